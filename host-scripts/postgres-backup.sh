#!/usr/bin/env bash
# PostgreSQL backup. `full`: pg_dumpall (roles, tablespaces, every database) as one SQL file.
# `per-database`: one custom-format pg_dump per database, for selective restores with pg_restore.
# Interface: CONTRACT.md. Password only through PGPASSWORD, which libpq reads from the environment.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"

mode=${1:-}
case $mode in
  full | per-database) ;;
  *)
    echo "usage: $0 full|per-database" >&2
    exit 2
    ;;
esac
# The mode argument is the only kind accepted: BACKUP_KIND must agree with it.
backup_init postgres "$mode"
backup_require_env PGHOST PGPORT PGUSER
# -w everywhere: a missing or wrong password must fail, never wait for a prompt.

# The steps that talk to the server run through backup_run (see backup-lib.sh), so they are
# functions: a pipeline cannot be passed as arguments.
dumpall_to() { pg_dumpall -w | zstd -T0 -q >"$1"; }
list_to() {
  psql -X -w -q -At -0 -d "${PGDATABASE:-postgres}" \
    -c 'select datname from pg_database where datallowconn and not datistemplate order by datname' >"$1"
}
# The name goes through PGDATABASE, not -d: -d treats a name containing '=' as a connection string.
# -Z0 leaves compression to zstd (pg_dump 15 only has zlib) and keeps pg_restore's selective restore.
dump_to() { PGDATABASE=$1 pg_dump -w -Fc -Z0 | zstd -T0 -q >"$2"; }

backup_full() {
  local prefix=dump_ suffix=.sql.zst
  backup_tmpfile "$BACKUP_DIR" "$prefix$BACKUP_TS$suffix"
  backup_log "pg_dumpall from $PGHOST:$PGPORT as $PGUSER"
  backup_run dumpall_to "$BACKUP_TMP" || backup_die "pg_dumpall failed"
  backup_check_zstd "$BACKUP_TMP"
  backup_check_trailer "$BACKUP_TMP" '-- PostgreSQL database cluster dump complete'
  backup_commit "$BACKUP_TMP" "$BACKUP_DIR" "$prefix" "$suffix"
  backup_retention "$BACKUP_DIR" "$prefix" "$suffix"
}

# Sets DATABASES. The catalog query returns NUL-separated names: a database name may contain
# spaces or newlines.
list_databases() {
  DATABASES=()
  if [[ -n ${BACKUP_DATABASES:-} ]]; then
    read -r -a DATABASES <<<"$BACKUP_DATABASES"
  else
    backup_tmpfile "$TMPDIR" databases
    backup_run list_to "$BACKUP_TMP" || backup_die "cannot list databases"
    mapfile -d '' -t DATABASES <"$BACKUP_TMP"
    backup_discard "$BACKUP_TMP"
  fi
  # Zero databases is the silently-empty backup this job exists to prevent.
  ((${#DATABASES[@]})) || backup_die "no databases to back up"
  backup_log "databases: ${DATABASES[*]}"
}

# Returns non-zero when this database's copy is missing or unverified.
dump_database() {
  local db=$1 dir prefix=dump_ suffix=.dump.zst
  backup_safe_name "$db" || return 1
  dir="$BACKUP_DIR/per-db/$db"
  mkdir -p -- "$dir" || return 1
  backup_tmpfile "$dir" "$prefix$BACKUP_TS$suffix" || return 1
  backup_log "pg_dump of database '$db'"
  if ! backup_run dump_to "$db" "$BACKUP_TMP"; then
    backup_log "ERROR: pg_dump of database '$db' failed"
    return 1
  fi
  backup_check_zstd "$BACKUP_TMP" || return 1
  if ! zstd -dcq -- "$BACKUP_TMP" | backup_drain pg_restore --list >/dev/null; then
    backup_log "ERROR: pg_restore --list rejects the dump of database '$db'"
    return 1
  fi
  backup_commit "$BACKUP_TMP" "$dir" "$prefix" "$suffix" || return 1
}

backup_per_database() {
  local db ok=() failed=()
  list_databases
  # Every database is attempted even after a failure: one broken database must not cost the
  # others their copy.
  for db in "${DATABASES[@]}"; do
    # Reset so that a failure before the work file exists discards nothing of another database's.
    BACKUP_TMP=''
    if dump_database "$db"; then
      ok+=("$db")
    else
      failed+=("$db")
      backup_discard "$BACKUP_TMP"
    fi
  done
  ((${#failed[@]} == 0)) || backup_die "failed databases: ${failed[*]} (the other dumps were kept)"
  for db in "${ok[@]}"; do
    backup_retention "$BACKUP_DIR/per-db/$db" dump_ .dump.zst
  done
}

case $mode in
  full) backup_full ;;
  per-database) backup_per_database ;;
esac
