#!/usr/bin/env bash
# Runs a command as on the Proxmox host (paths from /, as install.sh uses them without --root) while
# this machine stays untouched: inside a private mount namespace, /etc, /usr/local and /var become
# overlays that read this machine's files (bash, coreutils, /etc/passwd) and write into LAYER/<dir>.
# The same LAYER mounted again continues where the last command left off; files written land in
# LAYER as plain files, removals as overlayfs whiteouts (character devices 0:0).
#   host-overlay.sh LAYER command [args...]
set -euo pipefail
if [[ ${HOST_OVERLAY_INSIDE:-} != 1 ]]; then
  HOST_OVERLAY_INSIDE=1 exec unshare --mount --propagation private -- bash "${BASH_SOURCE[0]}" "$@"
fi
unset HOST_OVERLAY_INSIDE
layer=${1:?usage: host-overlay.sh LAYER command [args...]}
shift
for dir in etc usr/local var; do
  mkdir -p "$layer/upper/$dir" "$layer/work/$dir"
  mount -t overlay overlay -o "lowerdir=/$dir,upperdir=$layer/upper/$dir,workdir=$layer/work/$dir" "/$dir"
done
exec "$@"
