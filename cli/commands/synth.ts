import type { BackupPolicyInput } from '../../policy/parse/policy-schema';
import type { PolicySource } from '../../policy/io/load';
import { UsageError, loadPolicy, noMoreArguments, option, withPolicySource, type Command } from '../args';

/** Stack ids name a folder under cdktf.out/stacks and a Terraform state: the config's own rule. */
const STACK_ID = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * synth [--policy FILE] [--out DIR] [--stack ID]: Terraform JSON of the project's stacks
 * (backup-policy.config.json, the same file cdktf diff/deploy read) into DIR.
 */
export const synth: Command = (args, { out, err }) => {
  const policyFile = option(args, '--policy');
  const outDir = option(args, '--out') ?? 'cdktf.out';
  const stackId = option(args, '--stack');
  noMoreArguments(args);
  if (stackId !== undefined && !STACK_ID.test(stackId)) {
    throw new UsageError(`--stack ${JSON.stringify(stackId)}: not a stack id; use lowercase letters, digits and "-", starting with a letter (no spaces), e.g. --stack homelab`);
  }
  // cdktf is loaded only here: validate and schema stay fast and free of it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadProjectConfig, CONFIG_FILE } = require('../../stacks/project-config') as typeof import('../../stacks/project-config');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { synthProject } = require('../../stacks/synth') as typeof import('../../stacks/synth');
  const config = loadProjectConfig();
  // Each policy file is loaded with its positions, so issues point at file:line:col.
  const sources: PolicySource[] = [];
  const load = (file: string | undefined): BackupPolicyInput => {
    const source = loadPolicy(file);
    if (file) sources.push(source);
    return source.value as BackupPolicyInput;
  };
  const policyOverride = policyFile ? load(policyFile) : undefined;
  let written: { outDir: string; stacks: string[] };
  try {
    written = synthProject({ config, outDir, stackId, loadPolicy: load, policyOverride, log: err });
  } catch (error) {
    // With one policy file in play its issues are located in it (several: each keeps its path).
    if (sources.length === 1) {
      withPolicySource(sources[0], () => {
        throw error;
      });
    }
    throw error;
  }
  out(`synthesized stack${written.stacks.length === 1 ? '' : 's'} ${written.stacks.map((s) => `"${s}"`).join(', ')} into ${written.outDir}`);
  if (policyFile) {
    err(`note: cdktf diff/deploy synthesize the policy named in ${config.file ?? CONFIG_FILE} (${config.stacks.map((s) => `${s.id}: ${s.policyFile ?? 'the bundled homelab policy'}`).join('; ')}), not --policy; name ${policyFile} there to deploy it.`);
  }
  return 0;
};
