#!/usr/bin/env bash
# PostgreSQL restore drill (CONTRACT.md, "Restore drills"). `full`: the newest pg_dumpall copy;
# `per-database`: the newest copy of every database under per-db/. Each is restored by
# postgres-restore.sh, the script a real restore runs, into a throwaway cluster (initdb) in
# DRILL_DIR that listens on a Unix socket only; then every table's rows and the large objects are
# counted and compared with the copy's manifest, and the policy's queries run.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"
# shellcheck source=drill-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/drill-lib.sh"

mode=${1:-}
case $mode in
  full | per-database) ;;
  *)
    echo "usage: $0 full|per-database" >&2
    exit 2
    ;;
esac
drill_init postgres "$mode"
SCRIPTS=$(dirname "${BASH_SOURCE[0]}")

# The image's server: the newest PostgreSQL installed (the image has exactly one, 17).
PGBIN=''
for dir in /usr/lib/postgresql/*/bin; do
  if [[ -x $dir/initdb ]]; then PGBIN=$dir; fi
done
[[ -n $PGBIN ]] || backup_die "no PostgreSQL server in this image (/usr/lib/postgresql/*/bin/initdb)"

DATA=$DRILL_DIR/postgres
SOCKET_DIR=$DRILL_DIR/run
LOG=$DRILL_DIR/postgres.log
stop_server() {
  if [[ -f $DATA/postmaster.pid ]]; then
    "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w -t 60 stop >/dev/null 2>&1 || backup_log "WARNING: pg_ctl stop failed"
    backup_log "stopped the throwaway PostgreSQL server"
  fi
  rm -rf -- "$DATA" "$SOCKET_DIR"
}

start_server() {
  mkdir -m 700 -- "$SOCKET_DIR" || backup_die "cannot create $SOCKET_DIR"
  drill_on_stop stop_server
  # trust on the socket only: the server has no TCP listener, and the socket directory is the
  # drill's user's alone. No durability wanted: the cluster is thrown away.
  backup_run "$PGBIN/initdb" -D "$DATA" -U drill --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$LOG" 2>&1 || {
    drill_log_tail "$LOG" initdb
    backup_die "initdb failed"
  }
  backup_run "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 120 -o "-c listen_addresses='' -c unix_socket_directories='$SOCKET_DIR' -c fsync=off -c full_page_writes=off -c synchronous_commit=off" start >/dev/null || {
    drill_log_tail "$LOG" postgres
    backup_die "the throwaway PostgreSQL server did not start"
  }
  backup_log "throwaway PostgreSQL $("$PGBIN/postgres" -V | sed -n 's/^postgres (PostgreSQL) \([^ ]*\).*/\1/p') on the socket in $SOCKET_DIR (no TCP)"
}

# The drill's own server, for the restore script and every client below.
export PGHOST=$SOCKET_DIR PGPORT=5432 PGUSER=drill PGDATABASE=postgres

# restore COPY [DATABASE]: postgres-restore.sh against the throwaway server. It pushes nothing
# (no Pushgateway for it): the drill reports under its own series. A database copy restores from
# template1, so that the copy of the postgres database can replace the fresh cluster's own.
restore() {
  local maintenance=postgres
  if [[ -n ${2:-} ]]; then maintenance=template1; fi
  PGDATABASE=$maintenance PUSHGATEWAY_URL='' RESTORE_COPY=$1 RESTORE_DATABASE=${2:-} RESTORE_OVERWRITE='' \
    bash "$SCRIPTS/postgres-restore.sh" "$mode"
}

# Rows of every table pg_dump writes data for (ordinary, unlogged, partitions; not the partitioned
# parents, which hold none themselves), keyed as the manifest keys them, and the large objects.
COUNT_SQL="select json_build_object(
    'tables', coalesce((select json_object_agg(k, n) from (
      select format('%I.%I', s.nspname, c.relname) as k,
        (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from only %I.%I', s.nspname, c.relname), false, true, '')))[1]::text::bigint as n
      from pg_class c join pg_namespace s on s.oid = c.relnamespace
      where c.relkind = 'r' and c.relpersistence in ('p', 'u')
        and s.nspname not in ('pg_catalog', 'information_schema') and s.nspname !~ '^pg_toast'
        and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')) t), '{}'::json),
    'largeObjects', (select count(*) from pg_largeobject_metadata))"

# count DB: the restored database's counts as JSON. The name goes through PGDATABASE: -d would
# take a name containing '=' for a connection string.
count() { PGDATABASE=$1 psql -X -w -q -At -v ON_ERROR_STOP=1 <<<"$COUNT_SQL"; }

# counted DB...: {"<db>": counts} for the databases named.
counted() {
  local got='{}' db counts
  for db in "$@"; do
    counts=$(count "$db") || backup_die "cannot count the rows of the restored database '$db'"
    got=$(jq -c --arg db "$db" --argjson v "$counts" '. + {($db): $v}' <<<"$got")
  done
  printf '%s\n' "$got"
}

run_query() { PGDATABASE=$1 psql -X -w -q -At -v ON_ERROR_STOP=1 -c "$2"; }

drill_full() {
  local copy got
  local -a dbs=()
  copy=$(backup_restore_newest '' .sql.zst) || backup_die "no full copy (dump_<timestamp>.sql.zst) in $BACKUP_DIR to drill"
  drill_copy_time "$copy"
  drill_manifest "$copy"
  drill_not_emptied "$copy" dump_ .sql.zst
  drill_restore_started
  start_server
  backup_run restore "$copy" || backup_die "the restore of $copy failed"
  drill_restore_finished
  # Every database a pg_dumpall copy connects to, template1 included (its contents are dumped).
  mapfile -d '' -t dbs < <(psql -X -w -q -At -0 -c "select datname from pg_database where datallowconn order by datname") ||
    backup_die "cannot list the restored databases"
  got=$(counted "${dbs[@]}") || exit 1
  drill_compare_databases "$copy" "$got"
  drill_queries run_query postgres
}

drill_per_database() {
  local path db copy got default=''
  local -a copies=() names=()
  for path in "$BACKUP_DIR"/per-db/*/; do
    path=${path%/}
    [[ -d $path && ! -L $path ]] || continue
    db=${path##*/}
    copy=$(backup_restore_newest "per-db/$db/" .dump.zst) || continue
    copies+=("$copy")
    names+=("$db")
  done
  ((${#copies[@]})) || backup_die "no per-database copy (per-db/<db>/dump_<timestamp>.dump.zst) in $BACKUP_DIR to drill"
  for copy in "${copies[@]}"; do
    drill_copy_time "$copy"
    drill_manifest "$copy"
    drill_not_emptied "$copy" dump_ .dump.zst
  done
  start_server
  for i in "${!copies[@]}"; do
    copy=${copies[i]}
    db=${names[i]}
    drill_restore_started
    backup_run restore "$copy" "$db" || backup_die "the restore of $copy failed"
    drill_restore_finished
    drill_use_manifest "$copy"
    got=$(counted "$db") || exit 1
    drill_compare_databases "$copy" "$got"
  done
  if ((${#names[@]} == 1)); then default=${names[0]}; fi
  drill_queries run_query "${default:-postgres}"
}

case $mode in
  full) drill_full ;;
  per-database) drill_per_database ;;
esac
