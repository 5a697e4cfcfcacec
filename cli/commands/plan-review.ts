import { join } from 'node:path';
import { loadPolicyAtRevision, loadPolicyFile } from '../../policy/io/load';
import { packageRoot } from '../../policy/io/scripts';
import { planPolicy } from '../../policy/plan/plan';
import { reviewPlans } from '../../policy/checks/review';
import { UsageError, option, type Command } from '../args';

/** plan-review --base REV [--policy FILE]: Markdown of what the working tree changes in protection. */
export const planReview: Command = (args, { out }) => {
  const base = option(args, '--base');
  const policyFile = option(args, '--policy') ?? join(packageRoot(), 'stacks/homelab-policy.ts');
  if (!base || args.length > 0) throw new UsageError('plan-review takes --base <git revision> [--policy FILE]');
  const before = planPolicy(loadPolicyAtRevision(base, policyFile, join(packageRoot(), 'node_modules')));
  const after = planPolicy(loadPolicyFile(policyFile));
  out(reviewPlans(before, after, base).trimEnd());
  return 0;
};
