#!/usr/bin/env bash
# Layer 2 of the host: the daily file backup onto the backup disk (BACKUP_DISK, /mnt/backup).
# Interface: CONTRACT.md, "Host jobs". Settings come from host.env (the policy's host section).
#
# Steps, each failing on its own without stopping the others:
#   pvc-data    each PVC volume's newest snapshot, mounted read-only, rsync'd into
#               pvc-data/<ISO week>/<namespace>/<pvc>/ with --link-dest to the week before
#   sqlite      every SQLite database found in those snapshots, copied with its -wal/-shm/-journal
#               to scratch and backed up from there into sqlite-backup/<namespace>/<pvc>/<path>/
#   pfsense     config.xml every run, a full archive once per ISO week (over SSH)
#   pve-config  /etc/pve and friends into pve-config/ (one copy, replaced when complete)
# Only when every step succeeded: week folders beyond WEEKLY_GENERATIONS, old SQLite copies and
# old snapshots (lvm-pvc-snapshot prune) are removed. A failed step fails the run; nothing resets
# that.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/backup-lib.sh"
# shellcheck source=host-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/host-lib.sh"
# shellcheck source=sqlite-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/sqlite-lib.sh"
HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")

export BACKUP_SERVICE=daily-backup BACKUP_KIND=files
BACKUP_DISK=${BACKUP_DISK:-}
host_load_config
host_require LVM_VG LVM_THIN_POOL LVM_LV_PATTERN BACKUP_DISK WEEKLY_GENERATIONS SQLITE_KEEP_LAST SQLITE_KEEP_WITHIN_SECONDS
# The lock comes first: until this run holds it, nothing here may touch a mount, a file or a status.
host_job_lock daily-backup

# backup-lib's retention and size check apply to the SQLite copies, the only dated series here.
# BACKUP_DIR (backup-lib's own lock file) is the state directory: nothing is written to the backup
# disk before it is known to be mounted.
export BACKUP_DIR=$HOST_STATE_DIR BACKUP_KEEP_LAST=$SQLITE_KEEP_LAST BACKUP_KEEP_WITHIN_SECONDS=$SQLITE_KEEP_WITHIN_SECONDS
export BACKUP_MIN_SIZE_RATIO=${SQLITE_MIN_SIZE_RATIO:-0.5}
host_start_job daily-backup rsync files

# The disk must be the mounted backup disk: an unmounted /mnt/backup is a directory on the root
# filesystem, and a backup written there fills the host's root and is lost with it. (Checked after
# the start, so the failure is pushed.)
if ! mountpoint -q -- "$BACKUP_DISK"; then
  backup_die "$BACKUP_DISK is not a mount point (the backup disk is not mounted)"
fi

RUN_DIR=${RUNTIME_DIRECTORY:-/run/daily-backup}
mkdir -p -- "$RUN_DIR" || backup_die "cannot create $RUN_DIR"
WEEK=$(host_iso_week "$(backup_start_epoch)")
WEEK_PATTERN='^[0-9]{4}-[0-9]{2}$'
FAILED=()
SQLITE_DIRS=()
TOTAL_BYTES=0

step_failed() {
  FAILED+=("$1")
  backup_log "ERROR: step $1 failed"
}

# week_dirs DIR: the ISO-week folders in DIR, oldest first (YYYY-WW sorts as text).
week_dirs() {
  local d
  for d in "$1"/*/; do
    d=${d%/}
    d=${d##*/}
    if [[ $d =~ $WEEK_PATTERN ]]; then printf '%s\n' "$d"; fi
  done | sort
}

# previous_week DIR: the newest week folder before this one, if any.
previous_week() {
  local w prev=''
  while read -r w; do
    if [[ -n $w && $w < $WEEK ]]; then prev=$w; fi
  done < <(week_dirs "$1")
  printf '%s' "$prev"
}

# replace_dir NEW FINAL: puts a completed directory in place of the previous one. Data reaches the
# disk before any name changes; the old copy is renamed aside first and removed last, so a crash
# in between leaves a complete copy under one of the two names.
replace_dir() {
  local new=$1 final=$2 old=''
  sync -f -- "$new" || {
    backup_log "ERROR: cannot sync $new"
    return 1
  }
  if [[ -e $final ]]; then
    backup_tmpdir "$(dirname -- "$final")" "old.$(basename -- "$final")" || return 1
    old=$BACKUP_TMP
    rmdir -- "$old" || return 1
    mv -T -- "$final" "$old" || return 1
  fi
  mv -T -- "$new" "$final" || return 1
  backup_untrack "$new"
  if [[ -n $old ]]; then backup_discard "$old"; fi
}

# run_to FILE CMD...: CMD (stoppable by a signal, see backup_run) with its output in FILE.
run_to() {
  local file=$1
  shift
  host_run "$@" >"$file"
}

# rsync_total STATS_FILE: "Total file size" from rsync --stats (the size of the complete copy).
rsync_total() {
  local line
  line=$(grep -m1 '^Total file size:' -- "$1") || {
    printf 0
    return 0
  }
  line=${line#*: }
  line=${line%% *}
  printf '%s' "${line//,/}"
}

# --- pvc-data and sqlite ---------------------------------------------------------------------------

# copy_volume LV NS PVC SNAPSHOT: mount the snapshot, copy its files, back up its SQLite databases.
# Returns 1 when the file copy failed, 2 when only an SQLite backup failed.
copy_volume() {
  local lv=$1 ns=$2 pvc=$3 snap=$4 dev mnt dest prev tmp stats rc=0 links=()
  lvm_activate "$LVM_VG" "$snap" || return 1
  HOST__ACTIVATED+=("$LVM_VG/$snap")
  dev=$(host_lv_field "$LVM_VG" "$snap" path) || return 1
  mnt="$RUN_DIR/mnt/$lv"
  host_mount_ro "$dev" "$mnt" || return 1

  dest="$BACKUP_DISK/pvc-data/$WEEK/$ns/$pvc"
  mkdir -p -- "$BACKUP_DISK/pvc-data/$WEEK/$ns" || return 1
  # Unchanged files become hard links into this week's previous copy and last week's: every
  # generation is complete, and only changed files take space. rsync ignores a --link-dest it
  # cannot use (a wrong relative one only warns and copies everything), hence absolute paths.
  if [[ -d $dest ]]; then links+=("--link-dest=$dest"); fi
  prev=$(previous_week "$BACKUP_DISK/pvc-data")
  if [[ -n $prev && -d $BACKUP_DISK/pvc-data/$prev/$ns/$pvc ]]; then links+=("--link-dest=$BACKUP_DISK/pvc-data/$prev/$ns/$pvc"); fi
  backup_tmpdir "$BACKUP_DISK/pvc-data/$WEEK/$ns" "$pvc" || return 1
  tmp=$BACKUP_TMP
  backup_tmpfile "$TMPDIR" rsync-stats || return 1
  stats=$BACKUP_TMP
  if run_to "$stats" rsync -aH --numeric-ids --stats "${links[@]}" -- "$mnt/" "$tmp/"; then
    TOTAL_BYTES=$((TOTAL_BYTES + $(rsync_total "$stats")))
    replace_dir "$tmp" "$dest" || return 1
    backup_log "copied $ns/$pvc from $snap into pvc-data/$WEEK"
  else
    backup_log "ERROR: rsync of $snap failed"
    backup_discard "$tmp"
    rc=1
  fi

  if ! backup_sqlite_in "$mnt" "$ns" "$pvc"; then
    if ((rc == 0)); then rc=2; fi
  fi
  host_unmount "$mnt" || rc=1
  if lvm_deactivate "$LVM_VG" "$snap"; then
    local keep=() a
    for a in "${HOST__ACTIVATED[@]}"; do [[ $a == "$LVM_VG/$snap" ]] || keep+=("$a"); done
    HOST__ACTIVATED=("${keep[@]}")
  fi
  return "$rc"
}

# is_sqlite FILE: starts with the SQLite magic "SQLite format 3". Read by the shell itself: no
# process per file, which matters on volumes with hundreds of thousands of files.
is_sqlite() {
  local magic=''
  IFS= read -r -n 15 magic <"$1" 2>/dev/null || true
  [[ $magic == 'SQLite format 3' ]]
}

# backup_sqlite_in MNT NS PVC: every SQLite database in the mounted snapshot.
backup_sqlite_in() {
  local mnt=$1 ns=$2 pvc=$3 list f failed=0
  backup_tmpfile "$TMPDIR" sqlite-list || return 1
  list=$BACKUP_TMP
  # 512 bytes is the smallest page: anything shorter holds no database.
  find "$mnt" -xdev -type f -size +511c ! -name '*-wal' ! -name '*-shm' ! -name '*-journal' -print0 >"$list" || {
    backup_log "ERROR: cannot list the files of $ns/$pvc"
    return 1
  }
  while IFS= read -r -d '' f; do
    is_sqlite "$f" || continue
    backup_sqlite_file "$mnt" "$f" "$ns" "$pvc" || failed=$((failed + 1))
  done <"$list"
  backup_discard "$list"
  ((failed == 0))
}

# backup_sqlite_file MNT FILE NS PVC
# The snapshot is mounted read-only, and no read-only way of opening a WAL database there is right:
# `mode=ro` cannot open it at all when the snapshot holds no -shm file (it cannot create one), and
# when it holds one, that -shm was caught mid-flight (it is written through a memory map) and is
# trusted as is; `immutable=1` ignores the -wal file, silently dropping every transaction not yet
# checkpointed. So the database travels with its -wal, -shm and -journal to a scratch directory
# and is opened read-write there: SQLite recovers the WAL (or rolls back a hot journal) exactly as
# the application would after a crash, and VACUUM INTO writes one consistent copy.
backup_sqlite_file() {
  local mnt=$1 f=$2 ns=$3 pvc=$4 rel outdir scratch base tmp suffix
  rel=${f#"$mnt"/}
  outdir="$BACKUP_DISK/sqlite-backup/$ns/$pvc/$rel"
  mkdir -p -- "$outdir" "$BACKUP_DISK/sqlite-backup/.scratch" || return 1
  backup_tmpdir "$BACKUP_DISK/sqlite-backup/.scratch" sqlite || return 1
  scratch=$BACKUP_TMP
  base=${f##*/}
  cp -P -- "$f" "$scratch/$base" || return 1
  for suffix in -wal -shm -journal; do
    # The volume belongs to a tenant: a companion that is a symlink (or a device, a fifo) could make
    # this root job read a file of the host (`-wal -> /etc/shadow`) or copy without end
    # (`-wal -> /dev/zero`). Only regular files inside the snapshot are copied, and a regular file
    # there is bounded by the volume's size; anything else fails this database, loudly.
    if [[ -L $f$suffix || (-e $f$suffix && ! -f $f$suffix) ]]; then
      backup_log "ERROR: $ns/$pvc/$rel$suffix is not a regular file (a symlink or a device); not following it, $rel is not copied"
      backup_discard "$scratch"
      return 1
    fi
    if [[ -f $f$suffix ]]; then cp -P -- "$f$suffix" "$scratch/$base$suffix" || return 1; fi
  done
  backup_tmpfile "$outdir" "sqlite_$BACKUP_TS.sqlite3" || return 1
  tmp=$BACKUP_TMP
  if ! sqlite3 -bail -cmd '.timeout 30000' "$scratch/$base" "VACUUM INTO '${tmp//\'/\'\'}';" >&2; then
    backup_log "ERROR: VACUUM INTO failed for $ns/$pvc/$rel"
    backup_discard "$scratch"
    return 1
  fi
  backup_discard "$scratch"
  backup_sqlite_integrity "$tmp" || return 1
  backup_commit "$tmp" "$outdir" sqlite_ .sqlite3 || return 1
  SQLITE_DIRS+=("$outdir")
}

step_pvc_data() {
  local volumes snapshots lv ns pvc snap origin ts name copy_failed=0 sqlite_failed=0 rc
  declare -A newest=()
  host_pv_table || return 1
  volumes=$(host_pvc_volumes) || return 1
  snapshots=$(host_snapshots) || return 1
  while read -r origin ts name; do
    [[ -n $origin ]] && newest[$origin]=$name
  done <<<"$snapshots"
  [[ -n $volumes ]] || {
    backup_log "ERROR: no PVC volume found in $LVM_VG/$LVM_THIN_POOL"
    return 1
  }
  while read -r lv ns pvc; do
    [[ -n $lv ]] || continue
    snap=${newest[$lv]:-}
    if [[ -z $snap ]]; then
      # A volume without a snapshot is a volume without a backup: fail loudly.
      backup_log "ERROR: $lv ($ns/$pvc) has no snapshot"
      copy_failed=$((copy_failed + 1))
      continue
    fi
    rc=0
    copy_volume "$lv" "$ns" "$pvc" "$snap" || rc=$?
    case $rc in
      0) ;;
      2) sqlite_failed=$((sqlite_failed + 1)) ;;
      *) copy_failed=$((copy_failed + 1)) ;;
    esac
  done <<<"$volumes"
  if ((sqlite_failed)); then step_failed sqlite; fi
  ((copy_failed == 0))
}

# --- pfsense ----------------------------------------------------------------------------------------

pfsense_ssh() {
  ssh -i "$PFSENSE_IDENTITY_FILE" -p "${PFSENSE_PORT:-22}" -o BatchMode=yes -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile="$PFSENSE_KNOWN_HOSTS" -o ConnectTimeout=30 -- "$PFSENSE_USER@$PFSENSE_HOST" "$@"
}

step_pfsense() {
  local dir tmp existing
  dir="$BACKUP_DISK/pfsense/$WEEK"
  mkdir -p -- "$dir" || return 1
  backup_tmpfile "$dir" "config_$BACKUP_TS.xml" || return 1
  tmp=$BACKUP_TMP
  # config.xml over the same SSH access as the archive: one credential on the host, not an SSH
  # key plus an API key.
  # (No "--" before remote paths: they are absolute, and FreeBSD's tools differ from GNU's.)
  run_to "$tmp" pfsense_ssh cat "$PFSENSE_CONFIG_PATH" || {
    backup_log "ERROR: cannot read $PFSENSE_CONFIG_PATH from $PFSENSE_HOST"
    return 1
  }
  # A config cut short (connection lost, disk full on the firewall) lacks the closing tag.
  if ! head -c 4096 -- "$tmp" | grep -q '<pfsense>' || ! tail -c 4096 -- "$tmp" | grep -q '</pfsense>'; then
    backup_log "ERROR: $PFSENSE_HOST:$PFSENSE_CONFIG_PATH is not a complete pfSense configuration"
    return 1
  fi
  backup_commit "$tmp" "$dir" config_ .xml || return 1
  PFSENSE_BYTES=$(stat -c %s -- "$dir/config_$BACKUP_TS.xml") || PFSENSE_BYTES=0

  existing=$(find "$dir" -maxdepth 1 -name 'full_*.tar.gz' -print -quit) || return 1
  if [[ -n $existing ]]; then
    backup_log "pfSense archive of week $WEEK already taken (${existing##*/})"
    return 0
  fi
  backup_tmpfile "$dir" "full_$BACKUP_TS.tar.gz" || return 1
  tmp=$BACKUP_TMP
  local -a paths
  read -r -a paths <<<"$PFSENSE_ARCHIVE_PATHS"
  run_to "$tmp" pfsense_ssh tar czf - "${paths[@]}" || {
    backup_log "ERROR: the archive of $PFSENSE_HOST failed"
    return 1
  }
  if ! gzip -t -- "$tmp" || ! tar -tzf "$tmp" >/dev/null; then
    backup_log "ERROR: the pfSense archive does not read back"
    return 1
  fi
  backup_commit "$tmp" "$dir" full_ .tar.gz
}

# --- pve-config ------------------------------------------------------------------------------------

step_pve_config() {
  local tmp stats paths
  read -r -a paths <<<"$PVE_CONFIG_PATHS"
  backup_tmpdir "$BACKUP_DISK" pve-config || return 1
  tmp=$BACKUP_TMP
  backup_tmpfile "$TMPDIR" rsync-stats || return 1
  stats=$BACKUP_TMP
  # -R keeps each path's full name under pve-config/ (pve-config/etc/pve/...). A missing path is
  # an error (rsync exit 23), not a smaller backup.
  run_to "$stats" rsync -aR --stats -- "${paths[@]}" "$tmp/" || {
    backup_log "ERROR: rsync of ${paths[*]} failed"
    return 1
  }
  TOTAL_BYTES=$((TOTAL_BYTES + $(rsync_total "$stats")))
  replace_dir "$tmp" "$BACKUP_DISK/pve-config"
}

# --- pruning (only after every step succeeded) ------------------------------------------------------

# prune_weeks DIR: keeps the newest WEEKLY_GENERATIONS week folders of DIR.
prune_weeks() {
  local dir=$1 weeks=() i
  mapfile -t weeks < <(week_dirs "$dir")
  for ((i = 0; i < ${#weeks[@]} - WEEKLY_GENERATIONS; i++)); do
    rm -rf -- "${dir:?}/${weeks[i]}" || return 1
    backup_log "removed generation $dir/${weeks[i]}"
  done
}

step_prune() {
  local d rc=0
  prune_weeks "$BACKUP_DISK/pvc-data" || rc=1
  if [[ -d $BACKUP_DISK/pfsense ]]; then prune_weeks "$BACKUP_DISK/pfsense" || rc=1; fi
  for d in "${SQLITE_DIRS[@]}"; do
    backup_retention "$d" sqlite_ .sqlite3 || rc=1
  done
  # Snapshots last: their own command, with the snapshot job's lock and its "never after a failed
  # snapshot run, never the newest" rules.
  "$HERE/lvm-pvc-snapshot.sh" prune || rc=1
  return "$rc"
}

# remove_stale_work: work files of a run that was killed (SIGKILL, power loss) before its EXIT
# trap could remove them. Only this run holds the lock, so nothing here belongs to a live run.
# The depths are exact: a PVC's own files named ".tmp.*" inside a copy are never touched.
remove_stale_work() {
  find "$BACKUP_DISK" -mindepth 1 -maxdepth 1 -name '.tmp.*' -exec rm -rf -- {} + || return 1
  if [[ -d $BACKUP_DISK/pvc-data ]]; then
    find "$BACKUP_DISK/pvc-data" -mindepth 3 -maxdepth 3 -name '.tmp.*' -exec rm -rf -- {} + || return 1
  fi
  if [[ -d $BACKUP_DISK/pfsense ]]; then
    find "$BACKUP_DISK/pfsense" -mindepth 2 -maxdepth 2 -name '.tmp.*' -exec rm -rf -- {} + || return 1
  fi
  # sqlite-backup holds only this job's own files, at any depth.
  if [[ -d $BACKUP_DISK/sqlite-backup ]]; then
    find "$BACKUP_DISK/sqlite-backup" -mindepth 1 -name '.tmp.*' -prune -exec rm -rf -- {} + || return 1
  fi
}

# --- the run -------------------------------------------------------------------------------------

remove_stale_work || backup_log "WARNING: could not remove the work files of an earlier run"

host_metric_thin_pool || backup_log "WARNING: thin pool usage unknown"
mkdir -p -- "$BACKUP_DISK/pvc-data" || backup_die "cannot create $BACKUP_DISK/pvc-data"

backup_log "step pvc-data (week $WEEK)"
step_pvc_data || step_failed pvc-data
if [[ -n ${PFSENSE_HOST:-} ]]; then
  backup_log "step pfsense"
  pfsense_rc=0
  PFSENSE_BYTES=0
  step_pfsense || pfsense_rc=$?
  ((pfsense_rc == 0)) || step_failed pfsense
  # The firewall gets its own series (service pfsense, kind config) so PfsenseBackupStale sees it
  # stop answering even while the rest of the run succeeds; its duration is measured from the
  # start of the run.
  backup_push_series pfsense ssh config "$pfsense_rc" "$PFSENSE_BYTES" || backup_log "WARNING: the pfsense metrics could not be pushed"
fi
if [[ -n ${PVE_CONFIG_PATHS:-} ]]; then
  backup_log "step pve-config"
  step_pve_config || step_failed pve-config
fi
backup_add_size "$TOTAL_BYTES"
host_metric_disk_usage "$BACKUP_DISK"
backup_metric backup_failed_steps "${#FAILED[@]}"

if ((${#FAILED[@]})); then
  # The old generations and snapshots are now the newest good copies: nothing is pruned.
  backup_die "failed steps: ${FAILED[*]}; nothing pruned"
fi
backup_log "step prune"
step_prune || backup_die "pruning failed"
