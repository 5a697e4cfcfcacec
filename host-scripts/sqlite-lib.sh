# shellcheck shell=bash
# SQLite helpers, shipped only with SQLite services (sqlite-backup.sh, sqlite-integrity-check.sh)
# and the host's daily-backup.sh and host-restore.sh. Sourced after backup-lib.sh, whose logging
# they use; same error style: failure through the return status, with the reason logged.

# backup_sqlite_path RELATIVE: prints SQLITE_DATA_DIR/RELATIVE after checking that RELATIVE stays
# inside the data directory (no absolute path, no '..').
backup_sqlite_path() {
  if [[ -z $1 || $1 == /* || /$1/ == */../* ]]; then
    backup_log "ERROR: '$1' must be a path relative to SQLITE_DATA_DIR without '..'"
    return 1
  fi
  printf '%s/%s' "$SQLITE_DATA_DIR" "$1"
}

# backup_sqlite_uri PATH: a read-only URI. mode=ro makes a missing file an error; a plain path
# would be created as an empty database that passes integrity_check.
backup_sqlite_uri() {
  local p=$1
  p=${p//%/%25}
  p=${p//\?/%3f}
  p=${p//#/%23}
  printf 'file:%s?mode=ro' "$p"
}

# backup_sqlite_is_db PATH: the file starts with the SQLite magic string. A zero-byte file is a
# valid empty database to sqlite3, which is exactly the silently-empty backup to refuse.
backup_sqlite_is_db() {
  local magic
  [[ -f $1 ]] || {
    backup_log "ERROR: $1 does not exist"
    return 1
  }
  magic=$(head -c 15 -- "$1" | tr -d '\0') || return 1
  [[ $magic == 'SQLite format 3' ]] || {
    backup_log "ERROR: $1 is not an SQLite database (bad header)"
    return 1
  }
}

# backup_sqlite_integrity PATH: PRAGMA integrity_check through a read-only URI; the answer must be
# exactly "ok" (a corrupt index gives exit status 0 with a list of problems).
backup_sqlite_integrity() {
  local out
  backup_sqlite_is_db "$1" || return 1
  # The busy timeout covers a writer's lock in rollback-journal mode and WAL recovery.
  out=$(sqlite3 -bail -cmd '.timeout 30000' "$(backup_sqlite_uri "$1")" 'PRAGMA integrity_check;' 2>&1) || {
    backup_log "ERROR: integrity_check could not run on $1: $out"
    return 1
  }
  [[ $out == ok ]] || {
    backup_log "ERROR: integrity_check of $1 failed: $(printf '%s' "$out" | head -n 5 | tr '\n' ' ')"
    return 1
  }
}
