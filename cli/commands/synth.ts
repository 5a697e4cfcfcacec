import { noMoreArguments, option, type Command } from '../args';

/**
 * synth [--policy FILE] [--out DIR] [--stack ID]: Terraform JSON of the project's stacks
 * (backup-policy.config.json, the same file cdktf diff/deploy read) into DIR.
 */
export const synth: Command = (args, { out, err }) => {
  const policyFile = option(args, '--policy');
  const outDir = option(args, '--out') ?? 'cdktf.out';
  const stackId = option(args, '--stack');
  noMoreArguments(args);
  // cdktf is loaded only here: validate and schema stay fast and free of it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadProjectConfig, loadStackPolicy, CONFIG_FILE } = require('../../stacks/project-config') as typeof import('../../stacks/project-config');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { synthProject } = require('../../stacks/synth') as typeof import('../../stacks/synth');
  const config = loadProjectConfig();
  const policyOverride = policyFile ? loadStackPolicy(policyFile) : undefined;
  const written = synthProject({ config, outDir, stackId, loadPolicy: loadStackPolicy, policyOverride, log: err });
  out(`synthesized stack${written.stacks.length === 1 ? '' : 's'} ${written.stacks.map((s) => `"${s}"`).join(', ')} into ${written.outDir}`);
  if (policyFile) {
    err(`note: cdktf diff/deploy synthesize the policy named in ${config.file ?? CONFIG_FILE} (${config.stacks.map((s) => `${s.id}: ${s.policyFile ?? 'the bundled homelab policy'}`).join('; ')}), not --policy; name ${policyFile} there to deploy it.`);
  }
  return 0;
};
