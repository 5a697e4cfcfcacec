#!/usr/bin/env bash
# Layer 3 of the host: the offsite copy on the NAS, over SSH. Interface: CONTRACT.md, "Host jobs".
# Settings come from host.env (the policy's host section).
#
#   step 1  the backup disk (BACKUP_DISK) to OFFSITE_BACKUP_DISK_TARGET, hard links preserved (the
#           weekly generations share inodes; without -H the NAS would hold every week in full)
#   step 2  each NFS tree of OFFSITE_SOURCES to its NAS folder: only the paths in the change log
#           (nfs-change-tracker), or a full --delete pass when the log cannot be trusted (overflow,
#           tracker restarted or not running, log missing) and on the month's first Sunday.
#
# The change log is rotated under its lock before it is read, and merged back if the sync fails, so
# a change is never lost between the tracker and the NAS.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/backup-lib.sh"
# shellcheck source=host-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/host-lib.sh"

export BACKUP_SERVICE=offsite-sync-backup BACKUP_KIND=sync
BACKUP_DISK=${BACKUP_DISK:-}
host_load_config
host_require BACKUP_DISK NAS_HOST NAS_USER NAS_PORT NAS_IDENTITY_FILE NAS_KNOWN_HOSTS OFFSITE_BACKUP_DISK_TARGET OFFSITE_SOURCES CHANGE_LOG
host_job_lock offsite-sync-backup

export BACKUP_DIR=$HOST_STATE_DIR BACKUP_KEEP_LAST=1 BACKUP_KEEP_WITHIN_SECONDS=0
host_start_job offsite-sync-backup rsync sync

# Step 1 mirrors the disk with --delete: an unmounted /mnt/backup is an empty directory, and
# mirroring it would empty the offsite copy.
if ! mountpoint -q -- "$BACKUP_DISK"; then
  backup_die "$BACKUP_DISK is not a mount point (the backup disk is not mounted); not mirroring it"
fi

# A change log bigger than this is cheaper to replace by a full pass than to sort through.
MAX_LOG_BYTES=$((256 * 1024 * 1024))
NAS="$NAS_USER@$NAS_HOST"
# rsync splits -e on spaces (the schema admits no spaces in these paths). Host keys are checked:
# the NAS's key must be in NAS_KNOWN_HOSTS.
RSH="ssh -i $NAS_IDENTITY_FILE -p $NAS_PORT -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$NAS_KNOWN_HOSTS -o ConnectTimeout=30 -o ServerAliveInterval=60"
# One SSH connection for the whole run (nas_connect): every transfer after it is a new session over
# the same connection instead of its own TCP connect, key exchange and login.
SSH_CONTROL=''
FAILED=()
TRANSFERRED=0
CHANGELOG_STATE=none   # none | rotated | settled
FULL_REASON=''

step_failed() {
  FAILED+=("$1")
  backup_log "ERROR: step $1 failed"
}

# nas_connect: opens the shared connection in the background and points RSH at it. The transfers
# of one run are two to four rsync sessions, and on the bench machine each connection costs about
# 0.5 s of key exchange and login while a session over an open one costs 0.03 s (bench/results.md,
# "Host layer"). Not fatal: without it each rsync connects on its own, and reports its own errors.
nas_connect() {
  local dir err
  backup_tmpdir "$TMPDIR" ssh || return 1
  dir=$BACKUP_TMP
  # A socket path holds at most 107 bytes, and ssh adds a 17-character suffix while binding it.
  if ((${#dir} > 80)); then
    backup_discard "$dir"
    backup_tmpdir /tmp ssh || return 1
    dir=$BACKUP_TMP
  fi
  err="$dir/master.err"
  # ControlPersist bounds the master's life if this script is killed before its exit hook runs:
  # it leaves once no session has used it for that long. Its stdio is not the job's, so nothing
  # that reads the job's output waits for it; ssh closes every other inherited descriptor at start
  # (the job's lock among them), so a master outliving a killed run holds no lock.
  if $RSH -o ControlMaster=yes -o "ControlPath=$dir/m" -o ControlPersist=60 -fN "$NAS" </dev/null >/dev/null 2>"$err"; then
    SSH_CONTROL="$dir/m"
    RSH+=" -o ControlMaster=no -o ControlPath=$SSH_CONTROL"
  else
    backup_log "could not open a shared SSH connection to $NAS_HOST ($(tr '\n' ' ' <"$err")); each transfer connects on its own"
  fi
}

# The shared connection ends with the run (before its socket directory is removed).
nas_disconnect() {
  [[ -n $SSH_CONTROL ]] || return 0
  ssh -o "ControlPath=$SSH_CONTROL" -O exit "$NAS" >/dev/null 2>&1 || true
  SSH_CONTROL=''
}
backup_on_exit nas_disconnect

# step_timed NAME FUNCTION: runs a step and logs its wall time (the benchmark reads these lines).
step_timed() {
  local start=${EPOCHREALTIME/./} rc=0 us
  "$2" || rc=$?
  us=$((${EPOCHREALTIME/./} - start))
  backup_log "step $1 took $((us / 1000000)).$(printf '%03d' $((us / 1000 % 1000))) s"
  return "$rc"
}

# nas_rsync STATS_FILE ARG...: rsync to the NAS; "some files vanished" (24) is success: a file
# deleted while it was being sent is logged again and handled by the next sync.
nas_rsync() {
  local stats=$1 rc=0 line
  shift
  backup_run rsync -e "$RSH" --numeric-ids --stats "$@" >"$stats" || rc=$?
  line=$(grep -m1 '^Total transferred file size:' -- "$stats") || line=''
  line=${line#*: }
  line=${line%% *}
  line=${line//,/}
  if [[ $line =~ ^[0-9]+$ ]]; then TRANSFERRED=$((TRANSFERRED + line)); fi
  if ((rc == 24)); then
    backup_log "some files vanished during the transfer; the next sync takes their deletion"
    rc=0
  fi
  return "$rc"
}

# --- step 1 ------------------------------------------------------------------------------------------

step_backup_disk() {
  local stats filters=() rel
  backup_tmpfile "$TMPDIR" stats || return 1
  stats=$BACKUP_TMP
  # Work in progress of a daily backup and the lock files are not backups.
  filters+=(--exclude=/.lock-* --exclude=/.tmp.* --exclude=/pvc-data/*/*/.tmp.* --exclude=/pfsense/*/.tmp.*)
  filters+=(--exclude=/sqlite-backup/.scratch/ --exclude=/sqlite-backup/**/.tmp.* --exclude=/lost+found/)
  if [[ $CHANGE_LOG == "$BACKUP_DISK"/* ]]; then
    rel=${CHANGE_LOG#"$BACKUP_DISK"}
    filters+=("--exclude=$rel" "--exclude=$rel.*")
  fi
  # Generations the disk has rotated out stay on the NAS ("> 4 weeks or site disaster: Synology"):
  # --delete mirrors inside each week folder, but never deletes a whole week folder.
  filters+=("--filter=P /pvc-data/*/" "--filter=P /pfsense/*/")
  nas_rsync "$stats" -aH --delete "${filters[@]}" -- "$BACKUP_DISK/" "$NAS:$OFFSITE_BACKUP_DISK_TARGET/"
}

# --- step 2 ------------------------------------------------------------------------------------------

# rotate_changelog: takes the log (and the full-sync flag) for this sync, under the lock, and
# decides whether the log can be trusted. Sets FULL_REASON when it cannot.
rotate_changelog() {
  local tracker_fd
  host_changelog_lock || return 1
  if [[ -e $CHANGE_LOG.pending ]]; then
    # A sync died without settling (SIGKILL, power loss): its paths are still owed.
    backup_log "an earlier sync did not finish; its change log is synced again"
    if [[ -e $CHANGE_LOG ]]; then cat -- "$CHANGE_LOG" >>"$CHANGE_LOG.pending" || return 1; fi
  elif [[ -e $CHANGE_LOG ]]; then
    mv -f -- "$CHANGE_LOG" "$CHANGE_LOG.pending" || return 1
  else
    FULL_REASON="the change log $CHANGE_LOG is missing"
    : >"$CHANGE_LOG.pending" || return 1
  fi
  # A fresh, empty log: from now on "missing" means lost.
  : >"$CHANGE_LOG" || return 1
  if [[ -e $CHANGE_LOG.full-sync ]]; then
    mv -f -- "$CHANGE_LOG.full-sync" "$CHANGE_LOG.full-sync.pending" || return 1
  fi
  if [[ -e $CHANGE_LOG.full-sync.pending ]]; then
    FULL_REASON=${FULL_REASON:-"the tracker lost events (queue overflow or restart)"}
  fi
  CHANGELOG_STATE=rotated
  # A free tracker lock means nobody has been recording changes.
  exec {tracker_fd}>>"$CHANGE_LOG.tracker" || return 1
  if flock -n "$tracker_fd"; then
    FULL_REASON=${FULL_REASON:-"nfs-change-tracker is not running"}
    flock -u "$tracker_fd"
  fi
  exec {tracker_fd}>&-
  host_changelog_unlock
}

# settle_changelog STATUS: after success the rotated log is done with; after a failure it goes back
# in front of whatever was logged meanwhile, and a failed full pass is owed again.
settle_changelog() {
  [[ $CHANGELOG_STATE == rotated ]] || return 0
  host_changelog_lock || return 1
  if (($1 == 0)); then
    rm -f -- "$CHANGE_LOG.pending" "$CHANGE_LOG.full-sync.pending"
  else
    if [[ -e $CHANGE_LOG ]]; then cat -- "$CHANGE_LOG" >>"$CHANGE_LOG.pending"; fi
    mv -f -- "$CHANGE_LOG.pending" "$CHANGE_LOG"
    if [[ -n $FULL_REASON ]]; then : >"$CHANGE_LOG.full-sync"; fi
    rm -f -- "$CHANGE_LOG.full-sync.pending"
    backup_log "the change log was restored; the next sync retries it"
  fi
  CHANGELOG_STATE=settled
  host_changelog_unlock
}

# A signal or an error anywhere after the rotation still gives the log back.
on_exit_settle() {
  if (($1 != 0)); then settle_changelog 1 || true; fi
}
backup_on_exit on_exit_settle

# split_changes: per source, the logged paths relative to it, split into those that exist now
# (EXIST_LIST_<i>: sent, directories recursively) and, for those that do not, the nearest existing
# directory above them (PARENT_LIST_<i>: its entries are compared one level deep and extra ones
# deleted on the NAS). NUL-separated, sorted, unique.
split_changes() {
  local path rel dir i n=${#SOURCES[@]} count=0
  for ((i = 0; i < n; i++)); do
    : >"$WORK/exist.$i" || return 1
    : >"$WORK/parents.$i" || return 1
  done
  while IFS= read -r -d '' path; do
    count=$((count + 1))
    for ((i = 0; i < n; i++)); do
      [[ $path == "${SOURCES[i]}" || $path == "${SOURCES[i]}"/* ]] || continue
      rel=${path#"${SOURCES[i]}"}
      rel=${rel#/}
      while [[ $rel == */ ]]; do rel=${rel%/}; done
      [[ -n $rel ]] || rel=.
      if [[ -e ${SOURCES[i]}/$rel || -L ${SOURCES[i]}/$rel ]]; then
        printf '%s\0' "$rel" >>"$WORK/exist.$i"
      else
        dir=$rel
        while :; do
          if [[ $dir == */* ]]; then dir=${dir%/*}; else dir=.; fi
          [[ $dir != . && ! -d ${SOURCES[i]}/$dir ]] || break
        done
        printf '%s/\0' "$dir" >>"$WORK/parents.$i"
      fi
      break
    done
  done <"$CHANGE_LOG.pending"
  for ((i = 0; i < n; i++)); do
    sort -zu -o "$WORK/exist.$i" -- "$WORK/exist.$i" || return 1
    sort -zu -o "$WORK/parents.$i" -- "$WORK/parents.$i" || return 1
  done
  CHANGED_PATHS=$count
}

step_nfs() {
  local i n rc=0 stats size
  rotate_changelog || {
    backup_log "ERROR: cannot rotate the change log"
    return 1
  }
  if [[ -z $FULL_REASON && ${OFFSITE_FULL_SYNC:-never} == first-sunday ]] && host_is_first_sunday "$(date +%F)"; then
    FULL_REASON="first Sunday of the month"
  fi
  size=$(stat -c %s -- "$CHANGE_LOG.pending") || size=0
  if [[ -z $FULL_REASON ]] && ((size > MAX_LOG_BYTES)); then
    FULL_REASON="the change log holds $size bytes"
  fi
  backup_tmpdir "$TMPDIR" nfs || return 1
  WORK=$BACKUP_TMP
  stats="$WORK/stats"
  n=${#SOURCES[@]}
  CHANGED_PATHS=0
  if [[ -n $FULL_REASON ]]; then
    backup_log "full sync: $FULL_REASON"
    backup_metric backup_offsite_full_sync 1
    for ((i = 0; i < n; i++)); do
      nas_rsync "$stats" -aH --delete --force -- "${SOURCES[i]}/" "$NAS:${TARGETS[i]}/" || {
        backup_log "ERROR: full sync of ${SOURCES[i]} failed"
        rc=1
      }
    done
  else
    backup_metric backup_offsite_full_sync 0
    split_changes || rc=1
    backup_log "incremental sync of $CHANGED_PATHS logged paths"
    for ((i = 0; i < n && rc == 0; i++)); do
      # Changed and new paths; -a does not imply -r with --files-from, and a directory that
      # appeared (mkdir, or moved in whole) must be sent with its contents.
      if [[ -s $WORK/exist.$i ]]; then
        nas_rsync "$stats" -aH -r --force --files-from="$WORK/exist.$i" --from0 -- "${SOURCES[i]}/" "$NAS:${TARGETS[i]}/" || rc=1
      fi
      # Deletions and the old names of renames: each directory that lost an entry is compared one
      # level deep (-d) and the NAS's extra entries are deleted. (--delete-missing-args would say
      # this directly, but the mode check Debian's rsync 3.2.7 security update added rejects its
      # mode-0 entries: "invalid file mode 00", RsyncProject/rsync#910.)
      if ((rc == 0)) && [[ -s $WORK/parents.$i ]]; then
        nas_rsync "$stats" -lptgoDH -d --delete --force --files-from="$WORK/parents.$i" --from0 -- "${SOURCES[i]}/" "$NAS:${TARGETS[i]}/" || rc=1
      fi
      ((rc == 0)) || backup_log "ERROR: incremental sync of ${SOURCES[i]} failed"
    done
  fi
  backup_metric backup_offsite_changed_paths "$CHANGED_PATHS"
  settle_changelog "$rc" || rc=1
  backup_discard "$WORK"
  return "$rc"
}

# --- the run ---------------------------------------------------------------------------------------

SOURCES=()
TARGETS=()
for pair in $OFFSITE_SOURCES; do
  SOURCES+=("${pair%%=*}")
  TARGETS+=("${pair#*=}")
done

host_metric_disk_usage "$BACKUP_DISK"
nas_connect || true
backup_log "step 1: $BACKUP_DISK to $NAS_HOST:$OFFSITE_BACKUP_DISK_TARGET"
step_timed 1 step_backup_disk || step_failed backup-disk
backup_log "step 2: ${SOURCES[*]} to $NAS_HOST"
step_timed 2 step_nfs || step_failed nfs
backup_add_size "$TRANSFERRED"
((${#FAILED[@]} == 0)) || backup_die "failed steps: ${FAILED[*]}"
