#!/usr/bin/env bash
# Runs a command inside an image's root filesystem, the way the tests run a tool or a server "from
# the image" (test/support/rootfs.ts):
#   in-rootfs.sh ROOTFS USER COMMAND [ARG...]
# USER is a user of the image ('' keeps root). The image is mounted read-only in a private mount
# namespace, so nothing run here can change the cached build; /tmp, /dev, /proc and /sys are the
# host's, which is where the tests keep server directories and backup files (same paths inside
# and out). No network or PID namespace: servers listen on the host's loopback like the others.
set -euo pipefail

(($# >= 3)) || {
  echo "usage: $0 ROOTFS USER COMMAND [ARG...]" >&2
  exit 2
}
root=$1
user=$2
shift 2

if [[ ${IN_ROOTFS_NAMESPACE:-} != "$root" ]]; then
  IN_ROOTFS_NAMESPACE=$root exec unshare --mount --propagation private -- "$0" "$root" "$user" "$@"
fi
unset IN_ROOTFS_NAMESPACE

mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
mount --rbind /tmp "$root/tmp"
mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"

# The image's PATH (debian:trixie-slim), not the test process's.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if [[ -z $user ]]; then
  exec chroot "$root" "$@"
fi
exec chroot "$root" setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"
