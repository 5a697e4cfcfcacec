#!/usr/bin/env bash
# Installs a host bundle (rendered by backup-policy from the policy's host section) on a Proxmox
# host: every file to its place as listed in MANIFEST, the operator commands on PATH, then systemd
# reloaded, the timers enabled and the change tracker started (restarted when its files changed).
# The null provider uploads the bundle and runs this; for hosts managed another way run it by hand
# from the bundle directory (`backup-policy host-bundle --out DIR`).
#
#   install.sh [--root DIR]    DIR: install under DIR instead of / (no systemctl; for inspection)
set -euo pipefail
export LC_ALL=C
umask 022

here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
root=/
case ${1:-} in
  --root)
    root=${2:?--root needs a directory}
    ;;
  '') ;;
  *)
    echo "usage: install.sh [--root DIR]" >&2
    exit 64
    ;;
esac
root=${root%/}

die() {
  echo "install.sh: $*" >&2
  exit 1
}

[[ -r $here/MANIFEST ]] || die "no MANIFEST next to install.sh"

safe_path() {
  [[ $1 == /* && /$1/ != */../* && $1 =~ ^[A-Za-z0-9._@+/-]+$ ]]
}

changed=' '
timers=()
services=()
declare -A restart_on=()
n=0
while read -r kind a b c; do
  n=$((n + 1))
  case $kind in
    file)
      if ! [[ $a =~ ^0[0-7]{3}$ && $c =~ ^[A-Za-z0-9._-]+$ && -f $here/$c ]] || ! safe_path "$b"; then
        die "MANIFEST line $n is not 'file <mode> <absolute path> <bundle file>'"
      fi
      target=$root$b
      if ! cmp -s -- "$here/$c" "$target"; then
        mkdir -p -- "$(dirname -- "$target")"
        # A new file renamed over the old one: a job running right now keeps reading the old
        # script (bash reads scripts as it goes; rewriting one in place corrupts a running job).
        install -m "$a" -- "$here/$c" "$target.new.$$"
        mv -f -- "$target.new.$$" "$target"
        changed+="$b "
        echo "installed $b"
      fi
      ;;
    link)
      if ! safe_path "$a" || ! safe_path "$b"; then die "MANIFEST line $n is not 'link <path> <target>'"; fi
      mkdir -p -- "$(dirname -- "$root$a")"
      ln -sfn -- "$b" "$root$a"
      ;;
    timer)
      [[ $a =~ ^[A-Za-z0-9._@-]+\.timer$ && -z $b ]] || die "MANIFEST line $n is not 'timer <unit>'"
      timers+=("$a")
      ;;
    service)
      # service <unit> <file>...: the files whose change means the running service must restart.
      [[ $a =~ ^[A-Za-z0-9._@-]+\.service$ ]] || die "MANIFEST line $n is not 'service <unit> <file>...'"
      services+=("$a")
      restart_on[$a]="$b $c"
      ;;
    '') ;;
    *) die "MANIFEST line $n: unknown entry '$kind'" ;;
  esac
done <"$here/MANIFEST"

if [[ $root != '' ]]; then
  echo "installed under $root; systemd left alone"
  exit 0
fi

systemctl daemon-reload
systemctl enable --now "${timers[@]}"
for unit in "${services[@]}"; do
  systemctl enable "$unit"
  # Restarting the tracker costs a full sync (events while it restarts are lost), so only when one
  # of its files changed; otherwise just make sure it runs.
  restart=0
  for f in ${restart_on[$unit]}; do
    if [[ $changed == *" $f "* ]]; then restart=1; fi
  done
  if ((restart)); then
    systemctl restart "$unit"
  else
    systemctl start "$unit"
  fi
done
echo "enabled ${timers[*]} ${services[*]}"
