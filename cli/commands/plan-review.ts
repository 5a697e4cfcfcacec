import { join } from 'node:path';
import { loadPolicyAtRevision, loadPolicySource } from '../../policy/io/load';
import { packageRoot } from '../../policy/io/scripts';
import { planPolicy } from '../../policy/plan/plan';
import { reviewPlans } from '../../policy/checks/review';
import { UsageError, option, withPolicySource, type Command } from '../args';

/** plan-review --base REV [--policy FILE]: Markdown of what the working tree changes in protection. */
export const planReview: Command = (args, { out }) => {
  const base = option(args, '--base');
  const policyFile = option(args, '--policy') ?? join(packageRoot(), 'stacks/homelab-policy.ts');
  if (!base || args.length > 0) throw new UsageError('plan-review takes --base <git revision> [--policy FILE]');
  // The working tree's policy first: its mistakes are the ones the author can fix now.
  const after = withPolicySource(loadPolicySource(policyFile), planPolicy);
  const before = planPolicy(loadPolicyAtRevision(base, policyFile, join(packageRoot(), 'node_modules')));
  out(reviewPlans(before, after, base).trimEnd());
  return 0;
};
