#!/usr/bin/env bash
# Builds an image's root filesystem from Debian packages with mmdebstrap, the way the tests run it:
#   build-rootfs.sh OUT_DIR PACKAGE_LIST...
# Every list's packages (comments and blank lines dropped) are installed from Debian 13 "trixie",
# then the configure-rootfs.sh beside each list runs inside, in the lists' order, as each image's
# Dockerfile runs it. OUT_DIR
# appears only when complete (built beside it, then renamed), so a cache never holds half a build.
set -euo pipefail

suite=trixie

(($# >= 2)) || {
  echo "usage: $0 OUT_DIR PACKAGE_LIST..." >&2
  exit 2
}
out=$1
shift
[[ ! -e $out ]] || {
  echo "$out exists; remove it to rebuild" >&2
  exit 1
}

packages=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' -- "$@" | grep -v '^$' | sort -u | paste -sd, -)
[[ -n $packages ]] || {
  echo "no packages in $*" >&2
  exit 1
}

parent=$(dirname -- "$out")
mkdir -p -- "$parent"
staging=$(mktemp -d "$parent/.rootfs-build.XXXXXX")
trap 'rm -rf -- "$staging"' EXIT

# --variant=apt: Essential packages, apt and the list, nothing recommended, like the Dockerfile's
# --no-install-recommends on debian:trixie-slim. "$1" in a hook is mmdebstrap's, not this script's.
hooks=()
# shellcheck disable=SC2016
for list in "$@"; do
  configure=$(cd "$(dirname -- "$list")" && pwd)/configure-rootfs.sh
  [[ -f $configure ]] || continue
  hooks+=(--customize-hook="upload '$configure' /tmp/configure-rootfs.sh")
  hooks+=(--customize-hook='chroot "$1" /bin/sh /tmp/configure-rootfs.sh')
  hooks+=(--customize-hook='rm -f "$1/tmp/configure-rootfs.sh"')
done
mmdebstrap --quiet --variant=apt --mode=root --include="$packages" "${hooks[@]}" \
  "$suite" "$staging/root"
mv -T -- "$staging/root" "$out"
