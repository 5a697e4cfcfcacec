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
dumpall_to() { pg_dumpall -w | backup_zstd_write "$1"; }
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

case $mode in
  full)
    backup_log "pg_dumpall from $PGHOST:$PGPORT as $PGUSER"
    backup_one_copy dump_ .sql.zst pg_dumpall dumpall_to verify_dumpall
    ;;
  per-database) backup_each_database dump_ .dump.zst pg_dump list_to dump_to verify_dump ;;
esac
