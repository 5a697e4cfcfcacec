#!/usr/bin/env bash
# `cdktf diff` against the cluster, only when cluster credentials are configured: the step maps
# the KUBE_CONFIG secret into its env, and an unset secret arrives as an empty string. Deciding
# here rather than in the step's `if:` matters: an `if:` cannot read an env var that the same step
# defines, which is how this diff once never ran at all.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=plan-review-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/plan-review-lib.sh"

# Long diffs are cut to their end, where Terraform prints its summary.
max_diff_lines=${MAX_DIFF_LINES:-400}

rm -f "$review_dir/diff.md"
if [[ -z ${KUBE_CONFIG:-} ]]; then
  echo "No cluster credentials (secret KUBE_CONFIG); no cdktf diff."
  exit 0
fi
if ! command -v terraform >/dev/null; then
  echo "Cluster credentials are configured but terraform is not installed on this runner; no cdktf diff." | tee "$review_dir/diff.md"
  exit 0
fi

kubeconfig="$RUNNER_TEMP/kubeconfig"
trap 'rm -f "$kubeconfig"' EXIT
(umask 077 && printf '%s\n' "$KUBE_CONFIG" >"$kubeconfig")
# The Kubernetes provider reads its connection from the environment (see stacks/backup-stack.ts).
export KUBE_CONFIG_PATH="$kubeconfig"
unset KUBE_CONFIG
# Ask the tools not to colour; strip_terminal_codes removes whatever they colour anyway.
export NO_COLOR=1 FORCE_COLOR=0

# A failed diff (providers unreachable, cluster down) is shown in the comment and warned about,
# but does not fail the job: the review above it does not depend on the cluster.
status=0
npx --no-install cdktf diff --skip-synth >"$review_dir/diff.raw" 2>&1 || status=$?
if ((status != 0)); then
  echo "::warning title=cdktf diff failed::cdktf diff exited with status $status; the pull-request comment shows its output."
fi
strip_terminal_codes <"$review_dir/diff.raw" >"$review_dir/diff.txt"
rm -f "$review_dir/diff.raw"
total_lines=$(wc -l <"$review_dir/diff.txt")
{
  printf '<details><summary>cdktf diff%s</summary>\n\n' "$([[ $status -eq 0 ]] || printf ' (failed, exit status %s)' "$status")"
  if ((total_lines > max_diff_lines)); then
    printf '%s earlier lines cut; the job log has them all.\n\n' "$((total_lines - max_diff_lines))"
  fi
  tail -n "$max_diff_lines" "$review_dir/diff.txt" | fenced_block
  printf '\n</details>\n'
} >"$review_dir/diff.md"
cat "$review_dir/diff.txt"
echo "cdktf diff exited with status $status"
