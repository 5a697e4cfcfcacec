#!/usr/bin/env bash
# Assemble the pull-request comment from what the earlier steps left in the review directory:
# the review (or why it is missing), the lint findings, and the cdktf diff when one was made.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=plan-review-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/plan-review-lib.sh"

# The lint section keeps its last lines; the count of findings comes last.
max_lint_lines=${MAX_LINT_LINES:-200}

status_of() { # name -> recorded status, or "missing" when the step did not get that far
  if [[ -f $review_dir/$1.status ]]; then cat "$review_dir/$1.status"; else echo missing; fi
}

review_status=$(status_of review)
lint_status=$(status_of lint)

{
  echo '## Backup policy plan review'
  echo
  if [[ $review_status == 0 ]]; then
    cat "$review_dir/review.md"
  else
    echo "**The plan review failed** (\`backup-policy plan-review\` exit status: $review_status); the job fails. Its error output:"
    echo
    if [[ -s $review_dir/review.err ]]; then strip_terminal_codes <"$review_dir/review.err" | fenced_block; else echo '(none)'; fi
  fi
  echo
  echo '### Lint'
  echo
  case $lint_status in
    0) echo 'No findings.' ;;
    missing) echo '**Lint did not run**; the job fails.' ;;
    *) echo "**Lint failed** (exit status $lint_status); the job fails after posting this comment." ;;
  esac
  if [[ -s $review_dir/lint.txt ]]; then
    echo
    lint_lines=$(wc -l <"$review_dir/lint.txt")
    if ((lint_lines > max_lint_lines)); then
      echo "$((lint_lines - max_lint_lines)) earlier lines cut; the job log has them all."
      echo
    fi
    tail -n "$max_lint_lines" "$review_dir/lint.txt" | strip_terminal_codes | fenced_block
  fi
  if [[ -f $review_dir/diff.md ]]; then
    echo
    cat "$review_dir/diff.md"
  fi
  if [[ -n ${PR_HEAD_SHA:-} ]]; then
    echo
    echo "<sub>For ${PR_HEAD_SHA}; this comment is updated on every push.</sub>"
  fi
} >"$review_dir/comment.md"
echo "Composed $review_dir/comment.md ($(wc -c <"$review_dir/comment.md") bytes)."
