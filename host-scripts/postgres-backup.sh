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

# The dump and list steps talk to the server, so backup-lib runs them through backup_run: they
# are functions because a pipeline cannot be passed as arguments.
# The policy's excluded databases, as pg_dumpall patterns that match exactly that name: inside
# double quotes a pattern's wildcards and dots are literal, and a double quote is doubled.
EXCLUDE_PATTERNS=()
while IFS= read -r name; do
  if [[ -n $name ]]; then EXCLUDE_PATTERNS+=("--exclude-database=\"${name//\"/\"\"}\""); fi
done <<<"${BACKUP_EXCLUDE_DATABASES:-}"
dumpall_to() { pg_dumpall -w "${EXCLUDE_PATTERNS[@]}" | backup_zstd_write "$1"; }
verify_dumpall() { backup_verify_zstd "$1" backup_expect_trailer '-- PostgreSQL database cluster dump complete'; }

# NUL-separated: a database name may contain spaces or newlines.
list_to() {
  psql -X -w -q -At -0 -d "${PGDATABASE:-postgres}" \
    -c 'select datname from pg_database where datallowconn and not datistemplate order by datname' >"$1"
}
# The name goes through PGDATABASE, not -d: -d treats a name containing '=' as a connection string.
# -Z0 leaves compression to zstd (pg_dump 15 only has zlib) and keeps pg_restore's selective restore.
dump_to() { PGDATABASE=$1 pg_dump -w -Fc -Z0 | backup_zstd_write "$2"; }
# pg_restore --list reads only the table of contents: the rest of the stream is drained.
list_toc() { backup_drain pg_restore --list; }
verify_dump() {
  backup_verify_zstd "$1" list_toc || {
    backup_log "ERROR: pg_restore --list or the read-back rejects the dump of database '$2'"
    return 1
  }
}

# pg_dumpall and pg_dump skip a database with datallowconn = false without a word, and the job
# used to report success without it. Each one the policy does not exclude fails the run (after the
# copies of everything else are published).
unconnectable_to() {
  psql -X -w -q -At -0 -d "${PGDATABASE:-postgres}" \
    -c 'select datname from pg_database where not datallowconn and not datistemplate order by datname' >"$1"
}
check_unconnectable() {
  local db
  local -a names=()
  backup_tmpfile "$TMPDIR" unconnectable || exit 1
  if ! backup_run unconnectable_to "$BACKUP_TMP"; then
    # Most likely the server is down, and the dump that follows says so and fails the run itself;
    # if it somehow succeeds, the run still fails: no check, no complete backup.
    backup_fail_at_end "cannot check for databases that do not allow connections"
    return 0
  fi
  mapfile -d '' -t names <"$BACKUP_TMP"
  backup_discard "$BACKUP_TMP"
  for db in "${names[@]}"; do
    backup_known_database "$db"
    if backup_excluded_database "$db"; then
      backup_log "database '$db' does not allow connections and is excluded by the policy; not backed up"
    else
      backup_fail_at_end "database '$db' does not allow connections (datallowconn = false), so no dump has it:" \
        "allow connections (ALTER DATABASE ... ALLOW_CONNECTIONS true) or exclude it in the policy"
    fi
  done
}
# An explicit list of databases leaves the others out on purpose.
if [[ $mode == full || -z ${BACKUP_DATABASES:-} ]]; then check_unconnectable; fi

case $mode in
  full)
    backup_log "pg_dumpall from $PGHOST:$PGPORT as $PGUSER"
    backup_one_copy dump_ .sql.zst pg_dumpall dumpall_to verify_dumpall
    ;;
  per-database) backup_each_database dump_ .dump.zst pg_dump list_to dump_to verify_dump ;;
esac
