#!/usr/bin/env bash
# Shared by the plan-review workflow's steps. Each step is its own shell, so they hand results to
# each other through files in one directory under RUNNER_TEMP (GitHub and Forgejo runners both set
# it, per job, and remove it afterwards): never in the checkout, where a later `git` or synth step
# could pick them up.

review_dir="${RUNNER_TEMP:?RUNNER_TEMP is set by the runner}/plan-review"
mkdir -p "$review_dir"

# The steps record their exit status instead of failing at once, so that the comment is still
# posted when lint fails; plan-review-gate.sh fails the job from these files afterwards.
record_status() { # name status
  printf '%s\n' "$2" >"$review_dir/$1.status"
}

# Tool output for a Markdown comment: no terminal escape sequences (colour, cursor moves, OSC
# hyperlinks), and of a line redrawn with carriage returns (progress spinners) only its final text.
strip_terminal_codes() {
  sed -E -e 's/\x1b\][^\x07\x1b]*(\x07|\x1b\\)//g' -e 's/\x1b\[[0-?]*[ -\/]*[@-~]//g' -e 's/\x1b[@-_]//g' -e 's/.*\r//' | tr -d '\033'
}

# Stdin as a Markdown code block whose fence is longer than any run of backticks inside, so that
# tool output containing ``` cannot end the block early and turn the rest into Markdown.
fenced_block() {
  local text longest fence
  text=$(cat)
  longest=$(printf '%s' "$text" | grep -o '`*' | awk '{ if (length($0) > n) n = length($0) } END { print n + 0 }')
  fence='```'
  while ((${#fence} <= longest)); do fence+='`'; done
  printf '%s\n%s\n%s\n' "$fence" "$text" "$fence"
}
