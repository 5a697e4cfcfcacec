import { loadPolicy, noMoreArguments, option, type Command } from '../args';

/** synth [--policy FILE] [--out DIR] [--stack ID]: Terraform JSON into DIR. */
export const synth: Command = (args, { out }) => {
  const policyFile = option(args, '--policy');
  const outDir = option(args, '--out') ?? 'cdktf.out';
  const stackId = option(args, '--stack') ?? 'homelab';
  noMoreArguments(args);
  const policy = loadPolicy(policyFile);
  // cdktf is loaded only here: validate and schema stay fast and free of it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { synthPolicy } = require('../../stacks/synth') as typeof import('../../stacks/synth');
  const written = synthPolicy({ policy, outDir, stackId });
  out(`synthesized stack "${stackId}" into ${written}`);
  return 0;
};
