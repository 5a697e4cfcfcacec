#!/usr/bin/env bash
# The last step: fail the job when lint or the review failed. They only recorded their status so
# that the comment could be posted first; without this step their failures would keep the job green.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=plan-review-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/plan-review-lib.sh"

failed=0
for step in lint review; do
  status=missing
  [[ -f $review_dir/$step.status ]] && status=$(<"$review_dir/$step.status")
  if [[ $status != 0 ]]; then
    echo "::error title=backup-policy $step::backup-policy $step failed (status: $status); see the pull-request comment or this job's log."
    failed=1
  fi
done
exit "$failed"
