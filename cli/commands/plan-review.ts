import { join } from 'node:path';
import { loadPolicyAtRevision, loadPolicySource } from '../../policy/io/load';
import { packageRoot } from '../../policy/io/scripts';
import { planPolicy } from '../../policy/plan/plan';
import { reviewPlans } from '../../policy/checks/review';
import { PolicyValidationError } from '../../policy/values/errors';
import { UsageError, option, withPolicySource, type Command } from '../args';

/** plan-review --base REV [--policy FILE]: Markdown of what the working tree changes in protection. */
export const planReview: Command = (args, { out }) => {
  const base = option(args, '--base');
  const policyFile = option(args, '--policy') ?? join(packageRoot(), 'stacks/homelab-policy.ts');
  if (!base || args.length > 0) throw new UsageError('plan-review takes --base <git revision> [--policy FILE]');
  // The working tree's policy first: its mistakes are the ones the author can fix now.
  const after = withPolicySource(loadPolicySource(policyFile), planPolicy);
  const baseInput = loadPolicyAtRevision(base, policyFile, join(packageRoot(), 'node_modules'));
  let before;
  try {
    before = planPolicy(baseInput);
  } catch (error) {
    if (!(error instanceof PolicyValidationError)) throw error;
    // The base was valid under the schema it was written for; a change that tightens the schema
    // (and migrates the policy with it) must still get a review, not a failed job.
    out(
      [
        `## Backup policy review (against ${base})`,
        '',
        `⚠️ The policy at ${base} does not parse with this revision's schema, so the change in protection cannot be compared; review the policy itself. What the schema now refuses in the base:`,
        '',
        ...error.issues.map((issue) => `- ${issue}`),
      ].join('\n'),
    );
    return 0;
  }
  out(reviewPlans(before, after, base).trimEnd());
  return 0;
};
