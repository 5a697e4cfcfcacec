#!/usr/bin/env bash
# Lint the policy and keep everything it says: findings go to stderr and the count to stdout (or
# both to one of them, depending on the CLI's version), so both streams are captured. A failing
# lint does not fail this step: the findings have to reach the pull-request comment first, and
# plan-review-gate.sh fails the job at the end.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=plan-review-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/plan-review-lib.sh"

status=0
# pipefail makes the pipeline's status lint's own, not tee's. --no-install: if the local bin were
# missing, plain npx would download whatever the registry serves under that name.
npx --no-install backup-policy lint 2>&1 | tee "$review_dir/lint.txt" || status=$?
record_status lint "$status"
echo "backup-policy lint exited with status $status"
