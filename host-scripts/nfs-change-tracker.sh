#!/usr/bin/env bash
# The offsite sync's change log: a long-running `inotifywait -m -r` over the NFS trees (the
# sources of OFFSITE_SOURCES), appending every changed path to CHANGE_LOG, NUL-terminated.
# Interface: CONTRACT.md, "Host jobs" (the change log protocol is described in host-lib.sh).
#
# Events can be lost in two ways, and both make the next sync a full one (rsync --delete over the
# whole tree) instead of trusting the log:
# - the kernel's inotify queue overflows (more than fs.inotify.max_queued_events pending while
#   this reader is busy): inotifywait reports Q_OVERFLOW, but only when asked for it (-e q_overflow);
# - this service is not running: it marks a full sync when it starts, and the sync treats a free
#   tracker lock as "events were not being recorded".
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/backup-lib.sh"
# shellcheck source=host-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/host-lib.sh"

export BACKUP_SERVICE=nfs-change-tracker BACKUP_KIND=track
host_load_config
host_require CHANGE_LOG OFFSITE_SOURCES

sources=()
for pair in $OFFSITE_SOURCES; do
  sources+=("${pair%%=*}")
done
for src in "${sources[@]}"; do
  [[ -d $src ]] || backup_die "$src is not a directory"
done

# Held for the life of this process: the sync can tell whether anyone is recording.
exec {tracker_fd}>>"$CHANGE_LOG.tracker" || backup_die "cannot open $CHANGE_LOG.tracker"
flock -n "$tracker_fd" || backup_die "another nfs-change-tracker is running"

# Events before the watches are in place, and while no tracker ran, are unknown.
host_changelog_lock || backup_die "cannot lock the change log"
: >>"$CHANGE_LOG"
: >"$CHANGE_LOG.full-sync"
host_changelog_unlock
backup_log "watching ${sources[*]}; the next sync will be a full one"

# write_batch PATH...: appends under the lock. Opened per batch, so after a rotation the next
# batch starts the new file.
write_batch() {
  host_changelog_lock || return 1
  if (($#)); then printf '%s\0' "$@" >>"$CHANGE_LOG"; fi
  host_changelog_unlock
}

mark_overflow() {
  host_changelog_lock || return 1
  : >"$CHANGE_LOG.full-sync"
  host_changelog_unlock
  backup_log "WARNING: the inotify queue overflowed; events were lost and the next sync will be a full one"
}

# Records are "EVENTS|path\0". Up to 1000 are taken per lock: the reader drains what is already
# waiting in the pipe (read -t 0 only polls), so a burst costs one lock, not one per event.
reader() {
  local record events path last='' overflow batch=()
  while IFS= read -r -d '' record; do
    overflow=0
    batch=()
    while :; do
      events=${record%%|*}
      path=${record#*|}
      if [[ $events == *Q_OVERFLOW* ]]; then
        overflow=1
      elif [[ $path != "$last" ]]; then
        batch+=("$path")
        last=$path
      fi
      if ((${#batch[@]} >= 1000)) || ! read -r -t 0; then break; fi
      IFS= read -r -d '' record || break
    done
    if ((overflow)); then mark_overflow || return 1; fi
    write_batch "${batch[@]}" || return 1
  done
  backup_log "ERROR: inotifywait stopped"
  return 1
}

# close_write rather than modify: one event per written file instead of one per write() call,
# which keeps a large copy from overflowing the queue. (nfsd closes files it cached once they go
# idle, so NFS writes end in close_write too.) attrib catches chmod/chown/touch.
# inotifywait gets neither lock descriptor: if it outlived this script it would keep the tracker
# lock held (the sync would trust a log nobody writes) or a change log lock nobody releases.
exec {HOST__CHANGELOG_FD}>&-
HOST__CHANGELOG_FD=''
rc=0
reader < <(exec inotifywait -m -r --no-newline --format '%e|%w%f%0' \
  -e close_write -e create -e delete -e moved_from -e moved_to -e attrib -e q_overflow \
  -- "${sources[@]}" {tracker_fd}>&-) || rc=$?
# The reader returns only on an error; the watcher must not outlive it (systemd restarts both).
kill "$!" 2>/dev/null || true
exit "$((rc == 0 ? 1 : rc))"
