#!/usr/bin/env bash
# Installs a host bundle (rendered by backup-policy from the policy's host section) on a Proxmox
# host: every file to its place as listed in MANIFEST, the operator commands on PATH, then systemd
# reloaded, the timers enabled and the change tracker started (restarted when its files changed).
# The null provider uploads the bundle and runs this; for hosts managed another way run it by hand
# from the bundle directory (`backup-policy host-bundle --out DIR`). `install.sh --help` for usage.
set -euo pipefail
export LC_ALL=C
umask 022

# Copies of every file this script replaces or removes, one folder per run. It lives in the jobs'
# state directory (HOST_STATE_DIR, systemd's StateDirectory=backup-policy) because that is on the
# root filesystem and survives --uninstall (state is never removed), and not beside the files:
# a copy in /usr/local/bin would be a runnable command, and one folder per run restores a whole
# earlier install with a single `cp -a <folder>/. /`.
readonly INSTALL_BACKUPS=/var/lib/backup-policy/install-backups
# The MANIFEST of the last install: what this host holds from us even after the bundle changed, so
# that an install removes what a newer bundle no longer lists (a moved installDir, a dropped unit)
# and --uninstall removes everything whichever bundle it runs from.
readonly INSTALLED_MANIFEST=/var/lib/backup-policy/installed-MANIFEST

usage() {
  cat <<'EOF'
usage: install.sh [--dry-run] [--uninstall] [--root DIR]

  (no option)   install every file MANIFEST lists (a copy of each file it replaces is kept), then
                reload systemd, enable and start the timers, start the change tracker (restarted
                only when one of its files changed). What the last install put there and this
                bundle no longer lists is stopped and removed. A second run with the same bundle
                changes nothing and says so.
  --dry-run     print what would happen (each file new/changed/unchanged, the units to enable,
                start or restart) and change nothing; needs no root.
  --uninstall   stop and disable the timers and the tracker, remove the files and commands MANIFEST
                and the last install's record list (a copy of each is kept). Never touches backup
                data, the state directory or any path the configuration names.
  --root DIR    work under DIR instead of / and leave systemd alone (for inspection).
  --help        this text.

Copies of replaced or removed files: /var/lib/backup-policy/install-backups/<UTC time>/<path>.
Record of the last install: /var/lib/backup-policy/installed-MANIFEST.
Exit codes: 0 done, 1 refused or failed, 64 usage error.
EOF
}

usage_error() {
  echo "install.sh: $*" >&2
  usage >&2
  exit 64
}

die() {
  echo "install.sh: $*" >&2
  exit 1
}

root=/
action=install
dry_run=0
while (($#)); do
  case $1 in
    --root)
      [[ -n ${2:-} ]] || usage_error "--root needs a directory"
      root=$2
      shift 2
      ;;
    --dry-run)
      dry_run=1
      shift
      ;;
    --uninstall)
      action=uninstall
      shift
      ;;
    --help | -h)
      usage
      exit 0
      ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
done
root=${root%/}

# Installing into / changes what runs as root; a dry run only reads, so anyone may preview.
if [[ -z $root && $dry_run -eq 0 && $EUID -ne 0 ]]; then
  die "must run as root: it changes files under / and systemd units (--dry-run previews without root; --root DIR works in a folder)"
fi

tools=(cmp cp date dirname install ln mkdir mv readlink rm rmdir stat)
if [[ -z $root ]]; then tools+=(systemctl); fi
missing=0
for tool in "${tools[@]}"; do
  if ! command -v "$tool" >/dev/null; then
    echo "install.sh: needs '$tool', which is not on PATH" >&2
    missing=1
  fi
done
((missing == 0)) || exit 1

here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
[[ -r $here/MANIFEST ]] || die "no MANIFEST next to install.sh"

safe_path() {
  [[ $1 == /* && /$1/ != */../* && $1 =~ ^[A-Za-z0-9._@+/-]+$ ]]
}

# The whole MANIFEST is read and checked before anything is touched: a bad line late in the file
# must not leave a half-installed host. read_manifest FILE BUNDLED: BUNDLED=1 when each file it
# names must be in the bundle (the recorded MANIFEST of an earlier install names files long gone).
declare -A restart_on=()
read_manifest() {
  local manifest=$1 bundled=$2 n=0 kind a b c
  file_modes=() file_dests=() file_sources=() link_paths=() link_targets=() timers=() services=()
  restart_on=()
  while read -r kind a b c; do
    n=$((n + 1))
    case $kind in
      file)
        if ! [[ $a =~ ^0[0-7]{3}$ && $c =~ ^[A-Za-z0-9._-]+$ ]] || ! safe_path "$b" || { ((bundled)) && [[ ! -f $here/$c ]]; }; then
          die "$manifest line $n is not 'file <mode> <absolute path> <bundle file>'"
        fi
        file_modes+=("$a")
        file_dests+=("$b")
        file_sources+=("$c")
        ;;
      link)
        if ! safe_path "$a" || ! safe_path "$b"; then die "$manifest line $n is not 'link <path> <target>'"; fi
        link_paths+=("$a")
        link_targets+=("$b")
        ;;
      timer)
        [[ $a =~ ^[A-Za-z0-9._@-]+\.timer$ && -z $b ]] || die "$manifest line $n is not 'timer <unit>'"
        timers+=("$a")
        ;;
      service)
        # service <unit> <file>...: the files whose change means the running service must restart.
        [[ $a =~ ^[A-Za-z0-9._@-]+\.service$ ]] || die "$manifest line $n is not 'service <unit> <file>...'"
        services+=("$a")
        restart_on[$a]="$b $c"
        ;;
      '') ;;
      *) die "$manifest line $n: unknown entry '$kind'" ;;
    esac
  done <"$manifest"
}

# What the last install put on this host and the bundle no longer lists.
stale_files=()
stale_links=()
stale_link_targets=()
stale_units=()
declare -A recorded_links=()
recorded=$root$INSTALLED_MANIFEST
if [[ -f $recorded ]]; then
  read_manifest "$recorded" 0
  old_files=("${file_dests[@]}")
  old_links=("${link_paths[@]}")
  old_link_targets=("${link_targets[@]}")
  for i in "${!link_paths[@]}"; do recorded_links[${link_paths[i]}]=${link_targets[i]}; done
  old_units=("${timers[@]}" "${services[@]}")
fi
read_manifest "$here/MANIFEST" 1
if [[ -f $recorded ]]; then
  declare -A listed=()
  for entry in "${file_dests[@]}" "${link_paths[@]}" "${timers[@]}" "${services[@]}"; do listed[$entry]=1; done
  for entry in "${old_files[@]}"; do
    if [[ -z ${listed[$entry]:-} ]]; then stale_files+=("$entry"); fi
  done
  for i in "${!old_links[@]}"; do
    if [[ -z ${listed[${old_links[i]}]:-} ]]; then
      stale_links+=("${old_links[i]}")
      stale_link_targets+=("${old_link_targets[i]}")
    fi
  done
  for entry in "${old_units[@]}"; do
    if [[ -z ${listed[$entry]:-} ]]; then stale_units+=("$entry"); fi
  done
fi

for path in "${file_dests[@]}" "${link_paths[@]}"; do
  if [[ -d $root$path && ! -L $root$path ]]; then die "$root$path is a directory; refusing to replace or remove it"; fi
done

# new, changed or unchanged: content and mode, and a symlink where a file belongs is a change.
file_state() {
  local target=$root$1 source=$here/$2 mode=$3
  if [[ ! -e $target && ! -L $target ]]; then
    echo new
  elif [[ -f $target && ! -L $target ]] && cmp -s -- "$source" "$target" && [[ $(stat -c %a -- "$target") == "${mode#0}" ]]; then
    echo unchanged
  else
    echo changed
  fi
}

link_state() {
  local path=$root$1 target=$2
  if [[ ! -e $path && ! -L $path ]]; then
    echo new
  elif [[ -L $path && $(readlink -- "$path") == "$target" ]]; then
    echo unchanged
  else
    echo changed
  fi
}

backup_dir=''
# Copies $1 (a path on the host) into this run's backup folder, created on first use.
keep_copy() {
  if [[ -z $backup_dir ]]; then
    local base candidate suffix=1
    base=$root$INSTALL_BACKUPS/$(date -u +%Y%m%dT%H%M%SZ)
    mkdir -p -- "$root$INSTALL_BACKUPS"
    candidate=$base
    # Two runs within one second each get their own folder.
    until mkdir -m 0700 -- "$candidate" 2>/dev/null; do
      [[ -e $candidate ]] || die "cannot create $candidate"
      suffix=$((suffix + 1))
      candidate=$base.$suffix
    done
    backup_dir=$candidate
  fi
  mkdir -p -- "$backup_dir$(dirname -- "$1")"
  cp -P -p -- "$root$1" "$backup_dir$1"
}

is_unit_file() {
  [[ $1 == *.service || $1 == *.timer ]]
}

# systemctl queries and actions; a dry run reports the action instead of doing it.
unit_enabled() { systemctl is-enabled --quiet -- "$1" 2>/dev/null; }
unit_active() { systemctl is-active --quiet -- "$1" 2>/dev/null; }
did_something=0
# act "<what it would do>" "<what it did>" command...
act() {
  local would=$1 did=$2
  shift 2
  did_something=1
  if ((dry_run)); then
    echo "would $would"
  else
    "$@"
    echo "$did"
  fi
}

# Removes $1 after keeping a copy ($2: why, for the message); a dry run only says so.
remove_path() {
  local why=${2:+ ($2)}
  did_something=1
  if ((dry_run)); then
    echo "would remove $1$why"
  else
    keep_copy "$1"
    rm -f -- "$root$1"
    echo "removed $1$why (a copy is kept in $backup_dir)"
  fi
}

# remove_installed WHY: removes the paths in doomed_files and doomed_links (pointing at
# doomed_targets): links only while they still point where we put them, files and links only
# (never a folder), then our own folders once empty.
units_removed=0
remove_installed() {
  local why=$1 i dest target dir points_at
  for i in "${!doomed_links[@]}"; do
    dest=${doomed_links[i]}
    target=$root$dest
    points_at=$(readlink -- "$target" || true)
    # Ours when it points where this bundle or the recorded install put it.
    if [[ -L $target && ($points_at == "${doomed_targets[i]}" || $points_at == "${recorded_links[$dest]:-}") ]]; then
      remove_path "$dest" "$why"
    elif [[ -e $target || -L $target ]]; then
      echo "left $dest alone: it is not the link this bundle installed"
    fi
  done
  for dest in "${doomed_files[@]}"; do
    if [[ -f $root$dest || -L $root$dest ]]; then
      remove_path "$dest" "$why"
      if is_unit_file "$dest"; then units_removed=1; fi
    fi
  done
  # Only the product's own folders, and only when empty: rmdir never removes anything inside.
  if ((dry_run == 0)); then
    for dest in "${doomed_files[@]}"; do
      dir=$(dirname -- "$dest")
      if [[ $dir == *backup-policy* && -d $root$dir ]]; then rmdir --ignore-fail-on-non-empty -- "$root$dir"; fi
    done
  fi
}

# Only the timers and the tracker stop: a job already running finishes (killing an LVM snapshot or
# an rsync half-way is worse than letting it end; its script stays open after removal).
stop_units() {
  local unit
  for unit in "$@"; do
    if unit_enabled "$unit" || unit_active "$unit"; then
      act "stop and disable $unit" "stopped and disabled $unit" systemctl disable --now --quiet -- "$unit"
    fi
  done
}

install_files() {
  local i state dest target changed=' ' units_changed=0
  if [[ -z $root ]]; then stop_units "${stale_units[@]}"; fi
  for i in "${!file_dests[@]}"; do
    dest=${file_dests[i]}
    target=$root$dest
    state=$(file_state "$dest" "${file_sources[i]}" "${file_modes[i]}")
    if ((dry_run)); then
      printf '%-9s %s\n' "$state" "$dest"
      [[ $state == unchanged ]] || did_something=1
    elif [[ $state != unchanged ]]; then
      if [[ $state == changed ]]; then keep_copy "$dest"; fi
      mkdir -p -- "$(dirname -- "$target")"
      # A new file renamed over the old one: a job running right now keeps reading the old
      # script (bash reads scripts as it goes; rewriting one in place corrupts a running job).
      install -m "${file_modes[i]}" -- "$here/${file_sources[i]}" "$target.new.$$"
      mv -f -- "$target.new.$$" "$target"
      if [[ $state == changed ]]; then
        echo "installed $dest (the old one is kept in $backup_dir)"
      else
        echo "installed $dest"
      fi
      did_something=1
    fi
    if [[ $state != unchanged ]]; then
      changed+="$dest "
      if is_unit_file "$dest"; then units_changed=1; fi
    fi
  done
  for i in "${!link_paths[@]}"; do
    dest=${link_paths[i]}
    target=$root$dest
    state=$(link_state "$dest" "${link_targets[i]}")
    if ((dry_run)); then
      printf '%-9s %s -> %s\n' "$state" "$dest" "${link_targets[i]}"
      [[ $state == unchanged ]] || did_something=1
    elif [[ $state != unchanged ]]; then
      if [[ $state == changed ]]; then keep_copy "$dest"; fi
      mkdir -p -- "$(dirname -- "$target")"
      ln -s -- "${link_targets[i]}" "$target.new.$$"
      mv -f -T -- "$target.new.$$" "$target"
      echo "linked $dest -> ${link_targets[i]}"
      did_something=1
    fi
  done
  doomed_files=("${stale_files[@]}")
  doomed_links=("${stale_links[@]}")
  doomed_targets=("${stale_link_targets[@]}")
  remove_installed 'no longer in the bundle'
  if ((units_removed)); then units_changed=1; fi
  if ((dry_run == 0)) && ! cmp -s -- "$here/MANIFEST" "$recorded"; then
    mkdir -p -- "$(dirname -- "$recorded")"
    install -m 0644 -- "$here/MANIFEST" "$recorded.new.$$"
    mv -f -- "$recorded.new.$$" "$recorded"
  fi

  if [[ -n $root ]]; then
    if ((dry_run)); then
      echo "dry run under $root: nothing was changed; systemd left alone"
    elif ((did_something)); then
      echo "installed under $root; systemd left alone"
    else
      echo "nothing changed under $root; systemd left alone"
    fi
    return
  fi

  local unit restart f
  if ((units_changed)); then act "reload systemd (unit files changed)" "reloaded systemd (unit files changed)" systemctl daemon-reload; fi
  for unit in "${timers[@]}"; do
    if ! unit_enabled "$unit"; then act "enable $unit" "enabled $unit" systemctl enable --quiet -- "$unit"; fi
    if ! unit_active "$unit"; then act "start $unit" "started $unit" systemctl start -- "$unit"; fi
  done
  for unit in "${services[@]}"; do
    if ! unit_enabled "$unit"; then act "enable $unit" "enabled $unit" systemctl enable --quiet -- "$unit"; fi
    # Restarting the tracker costs a full sync (events while it restarts are lost), so only when
    # one of its files changed; otherwise just make sure it runs.
    restart=0
    for f in ${restart_on[$unit]}; do
      if [[ $changed == *" $f "* ]]; then restart=1; fi
    done
    if ! unit_active "$unit"; then
      act "start $unit" "started $unit" systemctl start -- "$unit"
    elif ((restart)); then
      act "restart $unit (its files changed)" "restarted $unit (its files changed)" systemctl restart -- "$unit"
    fi
  done
  if ((dry_run)); then
    echo "dry run: nothing was changed"
  elif ((did_something == 0)); then
    echo "nothing changed"
  fi
}

uninstall() {
  if [[ -z $root ]]; then stop_units "${timers[@]}" "${services[@]}" "${stale_units[@]}"; fi
  doomed_files=("${file_dests[@]}" "${stale_files[@]}")
  doomed_links=("${link_paths[@]}" "${stale_links[@]}")
  doomed_targets=("${link_targets[@]}" "${stale_link_targets[@]}")
  remove_installed ''
  if [[ -z $root && $units_removed -eq 1 ]]; then act "reload systemd (unit files removed)" "reloaded systemd (unit files removed)" systemctl daemon-reload; fi
  if ((dry_run)); then
    echo "dry run: nothing was changed"
    return
  fi
  rm -f -- "$recorded"
  if ((did_something == 0)); then
    echo "nothing to uninstall"
  else
    echo "uninstalled; backup data, state and configured data paths were not touched"
  fi
}

if [[ $action == uninstall ]]; then
  uninstall
else
  install_files
fi
