import { homelabPolicy } from '../stacks/homelab-policy';
import { synthPolicy } from '../stacks/synth';
import type { BackupPolicyInput } from '../policy/parse/policy-schema';
import { generatePolicy, parseTarget, stackIdFor } from './generate-policy';

/**
 * Our real path: the policy goes through stacks/synth.ts synthPolicy (parse, BackupStack,
 * BackupPolicy, plan, render, provider constructs, cdktf synth, atomic swap of the output folder).
 *
 * usage: node dist/bench/synth-ours.js <homelab|N> <outdir>
 */

/**
 * The homelab's in-cluster layer: everything in the bundled policy except the Proxmox host, whose
 * resources the bare twin does not mirror, so ours and bare do the same work. run.ts times the
 * full bundled policy through the CLI.
 */
function homelabInCluster(): BackupPolicyInput {
  return Object.fromEntries(Object.entries(homelabPolicy).filter(([key]) => key !== 'host')) as BackupPolicyInput;
}

function main(argv: string[]): void {
  const [targetArg, outDir] = argv;
  if (!outDir) throw new Error('usage: synth-ours.js <homelab|N> <outdir>');
  const target = parseTarget(targetArg);
  const policy = target === 'homelab' ? homelabInCluster() : generatePolicy(target);
  synthPolicy({ policy, outDir, stackId: stackIdFor(target) });
}

main(process.argv.slice(2));
