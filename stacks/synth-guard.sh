#!/usr/bin/env bash
# Started by stacks/synth.ts before it creates its staging folder; waits until that synth process
# is gone, however it ended (Ctrl-C, SIGTERM, SIGKILL, an out-of-memory kill: none of them lets the
# process clean up after itself while it runs synchronous code), then removes what it left:
#   synth-guard.sh STAGING PREVIOUS OUT
# STAGING is removed; PREVIOUS (the last output, moved aside for the swap) goes back to OUT when the
# swap did not finish, and is removed when it did. After a normal synth neither exists.
# The synth process holds the write end of this script's stdin: end of file means it has exited
# or finished. It runs in its own process group, so a Ctrl-C in the terminal does not reach it.
set -euo pipefail
trap '' INT TERM HUP
staging=${1:?staging folder}
previous=${2:?previous folder}
out=${3:?output folder}

cat >/dev/null || true
rm -rf -- "$staging"
if [[ -d $previous ]]; then
  if [[ -e $out ]]; then
    rm -rf -- "$previous"
  else
    mv -- "$previous" "$out"
  fi
fi
