#!/usr/bin/env bash
# Describe the change in protection between the pull request's base branch and its head. A failure
# is recorded, not raised, so that the sticky comment says the review failed instead of still
# showing the review of an earlier push.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=plan-review-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/plan-review-lib.sh"

: "${BASE_REF:?BASE_REF is the pull request base branch (github.base_ref)}"

status=0
npx --no-install backup-policy plan-review --base "origin/$BASE_REF" >"$review_dir/review.md" 2>"$review_dir/review.err" || status=$?
record_status review "$status"
cat "$review_dir/review.md"
cat "$review_dir/review.err" >&2
echo "backup-policy plan-review exited with status $status"
