import { UsageError, loadPolicy, noMoreArguments, option, withPolicySource, type Command } from '../args';

/** Stack ids name a folder under cdktf.out/stacks and a Terraform state file: one plain word. */
const STACK_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/** synth [--policy FILE] [--out DIR] [--stack ID]: Terraform JSON into DIR. */
export const synth: Command = (args, { out }) => {
  const policyFile = option(args, '--policy');
  const outDir = option(args, '--out') ?? 'cdktf.out';
  const stackId = option(args, '--stack') ?? 'homelab';
  noMoreArguments(args);
  if (!STACK_ID.test(stackId)) {
    throw new UsageError(`--stack ${JSON.stringify(stackId)}: not a stack id; use letters, digits, "-" and "_" (at most 63, no spaces), e.g. --stack homelab`);
  }
  const source = loadPolicy(policyFile);
  // cdktf is loaded only here: validate and schema stay fast and free of it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { synthPolicy } = require('../../stacks/synth') as typeof import('../../stacks/synth');
  const written = withPolicySource(source, (policy) => synthPolicy({ policy, outDir, stackId }));
  out(`synthesized stack "${stackId}" into ${written}`);
  return 0;
};
