#!/usr/bin/env bash
# PostgreSQL restore. `full`: a pg_dumpall copy into the cluster (roles, every database).
# `per-database`: one pg_dump copy, with its roles taken first from the newest full copy, so that
# it restores into a fresh cluster. Interface: the restore contract in CONTRACT.md.
# Password only through PGPASSWORD, which libpq reads from the environment.
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
backup_restore_init postgres "$mode"
backup_require_env PGHOST PGPORT PGUSER

overwrite=0
if [[ ${RESTORE_OVERWRITE:-} == yes ]]; then overwrite=1; fi

# A libpq connection string for the maintenance database. Database names never go through -d
# as they are: a name containing '=' is taken as a connection string.
conninfo_value() {
  local v=$1
  v=${v//\\/\\\\}
  v=${v//\'/\\\'}
  printf "'%s'" "$v"
}
MAINTENANCE="dbname=$(conninfo_value "${PGDATABASE:-postgres}")"
# psql on the maintenance database; SQL on stdin, so that :'var' and :"var" quote names safely.
psql_maintenance() { psql -X -w -q -At -v ON_ERROR_STOP=1 -d "$MAINTENANCE" "$@"; }
# psql_in DB ...: psql connected to DB, whatever its name.
psql_in() {
  local db=$1
  shift
  PGDATABASE=$db psql -X -w -q -At -v ON_ERROR_STOP=1 "$@"
}

# What a database holds that a restore would replace: relations outside the system schemas that
# no extension owns, and large objects.
OBJECTS_SQL="select (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
     and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
     and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                     and d.objid = c.oid and d.deptype = 'e'))
 || ' relations and ' || (select count(*) from pg_largeobject_metadata) || ' large objects'"
# Tables as pg_dump writes them (CREATE TABLE: ordinary and partitioned, not unlogged or foreign).
TABLES_SQL="select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where c.relkind in ('r', 'p') and c.relpersistence = 'p'
     and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
     and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                     and d.objid = c.oid and d.deptype = 'e')"

holds_nothing() { [[ $1 == '0 relations and 0 large objects' ]]; }

# zstd_into FILE COMMAND...: decompresses FILE into COMMAND. A reader that stops early (the table
# of contents, the globals section) makes zstd die of SIGPIPE, which is not a failure.
zstd_into() {
  local file=$1 status
  shift
  set +o pipefail
  zstd -dcq -- "$file" | "$@"
  status=("${PIPESTATUS[@]}")
  set -o pipefail
  ((status[1] == 0)) || return "${status[1]}"
  ((status[0] == 0 || status[0] == 141)) || {
    backup_log "ERROR: cannot decompress $file"
    return 1
  }
}

# The roles of a pg_dumpall copy that the target lacks, for a single database: roles that exist
# are left exactly as they are (a pg_dumpall copy would reset their attributes and passwords, the
# restore's own superuser included), and memberships are granted only to the roles created here.
# Reads the dump on stdin up to its Databases section; EXISTING holds the target's role names as
# quote_ident writes them, which is how pg_dumpall writes them too.
# shellcheck disable=SC2016 # awk program: its $ are awk's
MISSING_ROLES_AWK='
function ident(s,    m) {
  if (match(s, /^("([^"]|"")*"|[^ ;"]+)/)) return substr(s, 1, RLENGTH)
  return ""
}
FILENAME == ARGV[1] { exists[$0] = 1; next }
/^-- Databases$/ { exit }
/^(SET |\\restrict |\\unrestrict |--|$)/ { print; next }
/^CREATE ROLE / {
  r = ident(substr($0, 13))
  if (!(r in exists)) { create[r] = 1; print; print r > created }
  next
}
/^ALTER ROLE / { r = ident(substr($0, 12)); if (r in create) print; next }
/^COMMENT ON ROLE / { r = ident(substr($0, 17)); if (r in create) print; next }
/^GRANT / {
  rest = substr($0, 7); g = ident(rest); rest = substr(rest, length(g) + 1)
  if (substr(rest, 1, 4) == " TO ") { m = ident(substr(rest, 5)); if (m in create) print }
  next
}
'

# restore_roles_from EXISTING CREATED: the dump's globals on stdin, the missing roles into the server.
restore_roles_from() {
  awk -v created="$2" "$MISSING_ROLES_AWK" "$1" - | psql_maintenance --single-transaction >/dev/null
}

restore_missing_roles() {
  local full existing created
  if ! full=$(backup_restore_newest '' .sql.zst); then
    backup_log "WARNING: no full copy (dump_<timestamp>.sql.zst) in $BACKUP_DIR: no roles restored; the database's owner and the roles its grants name must exist on the target"
    return 0
  fi
  backup_tmpfile "$TMPDIR" existing-roles || exit 1
  existing=$BACKUP_TMP
  backup_tmpfile "$TMPDIR" created-roles || exit 1
  created=$BACKUP_TMP
  psql_maintenance -c 'select quote_ident(rolname) from pg_roles' >"$existing" ||
    backup_die "cannot list the roles of $PGHOST:$PGPORT"
  backup_log "restoring the roles the target lacks from $full"
  backup_run zstd_into "$BACKUP_DIR/$full" restore_roles_from "$existing" "$created" || backup_die "restoring the roles from $full failed"
  if [[ -s $created ]]; then
    backup_log "created roles: $(paste -sd ' ' "$created")"
  else
    backup_log "every role of $full already exists; none changed"
  fi
}

# Rows per table in a custom dump (on stdin), from its data as pg_restore prints it: one line per row between
# `COPY schema.table (...) FROM stdin;` and `\.` (text COPY escapes newlines inside values). Names
# are written as pg_dump quotes them, which is how format('%I.%I') quotes them too.
# shellcheck disable=SC2016 # awk program: its $ are awk's
COUNT_COPY_ROWS_AWK='
function ident(s) {
  if (match(s, /^("([^"]|"")*"|[^ .;"(]+)/)) return substr(s, 1, RLENGTH)
  return ""
}
copying { if ($0 == "\\.") { print table "\t" rows; copying = 0 } else rows++; next }
/^COPY .* FROM stdin;$/ {
  rest = substr($0, 6); schema = ident(rest); rest = substr(rest, length(schema) + 2)
  table = schema "." ident(rest); rows = 0; copying = 1
}
'
count_dumped_rows() { pg_restore --data-only -f - | awk "$COUNT_COPY_ROWS_AWK"; }

# restore_database FIFO: the decompressed copy on stdin into pg_restore, and through FIFO into
# count_dumped_rows at the same time (the expected row counts on stdout): one pass over the copy.
# FIFO empty: no counter, for a copy whose manifest already holds the counts.
# --create from the maintenance database: pg_restore creates the database with the dumped owner,
# encoding and collation, then connects to it by name (never as a connection string). Either side
# failing ends the other (EOF or SIGPIPE), so neither can wait for ever.
restore_database() {
  local fifo=$1 counter='' rc=0
  if [[ -z $fifo ]]; then
    into_pg_restore || rc=$?
  else
    count_dumped_rows <"$fifo" &
    counter=$!
    tee -- "$fifo" | into_pg_restore || rc=$?
    wait "$counter" || { ((rc)) || rc=1; }
  fi
  return "$rc"
}

# into_pg_restore: the custom-format stream on stdin into pg_restore --create.
into_pg_restore() {
  local rc=0 errors
  if (($(server_version_num) >= 170000)); then
    pg_restore --create --exit-on-error --no-password -d "$MAINTENANCE" >&2 || rc=$?
  else
    # pg_restore 17 (the image's client) starts every restore with SET transaction_timeout, which
    # a server before 17 does not know. That one error is allowed, and only it: the restore runs
    # on past it and every other line of pg_restore's is an error that fails the run.
    errors=$PG_RESTORE_ERRORS
    pg_restore --create --no-password -d "$MAINTENANCE" 2>"$errors" || rc=$?
    if grep -qv -e '^pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"$' \
      -e '^Command was: SET transaction_timeout = 0;$' -e '^pg_restore: warning: errors ignored on restore: [0-9]*$' -e '^$' "$errors"; then
      # Only pg_restore's own lines: its "Command was:" lines can quote data.
      grep -v '^Command was:' "$errors" >&2 || true
      ((rc)) || rc=1
    elif ((rc == 1)); then
      rc=0
    fi
  fi
  return "$rc"
}

# server_version_num: the target server's version as a number (150008, 170002, ...).
server_version_num() {
  local v
  v=$(psql_maintenance <<<'show server_version_num') || backup_die "cannot read the server version"
  [[ $v =~ ^[0-9]+$ ]] || backup_die "unexpected server version '$v'"
  printf '%s' "$v"
}

# check_rows DB COPY EXPECTED: every table's rows on the server against the rows of its COPY data
# in the copy (EXPECTED, from restore_database); sets ROWS to the total.
check_rows() {
  local db=$1 copy=$2 expected=$3 actual
  backup_tmpfile "$TMPDIR" rows-restored || exit 1
  actual=$BACKUP_TMP
  psql_in "$db" -F $'\t' >"$actual" <<<"select format('select %L, count(*) from only %I.%I', format('%I.%I', n.nspname, c.relname), n.nspname, c.relname)
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
    \\gexec" || backup_die "cannot count the restored rows of '$db'"
  ROWS=$(awk -F '\t' 'FILENAME == ARGV[1] { got[$1] = $2; next }
    { total += $2 }
    !($1 in got) || got[$1] != $2 { print "table " $1 ": " $2 " rows in the copy, " ($1 in got ? got[$1] : "no table") " after the restore" > "/dev/stderr"; bad++ }
    END { print total + 0; exit bad > 0 }' "$actual" "$expected") ||
    backup_die "database '$db' does not hold the rows $copy holds (above)"
}

# --- The copy's manifest (host-scripts/CONTRACT.md, "Backup manifest") -------------------------
# The backup writes <copy>.manifest.json beside each copy: the rows of every table and the large
# objects that restoring that copy yields. When it is there, the restored server is counted the
# same way and compared; a copy without one (made before manifests) is checked against its own
# statements only.

# One database's counts in the manifest's shape: {"tables": {"schema.table": rows}, "largeObjects": n},
# keys as quote_ident writes them; tables as pg_dump writes COPY data for them: ordinary tables and
# partitions, logged and unlogged, none an extension owns; not a partitioned parent (its rows are
# its partitions'), and ONLY each table's own rows (COPY of an inheritance parent leaves out its
# children's). query_to_xml counts each table in one statement.
COUNTS_SQL="with t as (
  select quote_ident(n.nspname) || '.' || quote_ident(c.relname) as key,
         (xpath('/row/n/text()', query_to_xml(format('select count(*) as n from only %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint as rows
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where c.relkind = 'r' and c.relpersistence in ('p', 'u')
     and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_(toast|temp)'
     and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                     and d.objid = c.oid and d.deptype = 'e'))
select json_build_object('tables', coalesce((select json_object_agg(key, rows) from t), '{}'::json),
                         'largeObjects', (select count(*) from pg_largeobject_metadata))"

# counts_into DB FILE: appends {"DB": counts} to FILE (one JSON object per line).
counts_into() {
  local db=$1 counts
  counts=$(psql_in "$db" <<<"$COUNTS_SQL") || backup_die "cannot count the rows of '$db' after the restore"
  jq -c --arg db "$db" '{($db): .}' <<<"$counts" >>"$2" || backup_die "unexpected counts from '$db'"
}

# manifest_databases FILE: the manifest's database names, NUL-separated.
manifest_databases() { jq -j '.databases | keys[] | . + "\u0000"' "$BACKUP_RESTORE_MANIFEST" >"$1"; }

restore_per_database() {
  local db=$RESTORE_DATABASE copy toc dumped_name exists holds tables_dumped tables fifo expected
  copy=$(backup_restore_copy "per-db/$db/" .dump.zst)
  backup_log "restoring database '$db' from $copy"
  backup_restore_manifest "$copy"
  backup_tmpfile "$TMPDIR" toc || exit 1
  toc=$BACKUP_TMP
  backup_run zstd_into "$BACKUP_DIR/$copy" pg_restore --list >"$toc" ||
    backup_die "pg_restore --list cannot read $copy"
  dumped_name=$(sed -n 's/^;[[:space:]]*dbname: //p' "$toc" | head -n 1)
  # pg_restore --create makes the database the dump names; a copy of another database would
  # restore something else than asked for.
  [[ $dumped_name == "$db" ]] || backup_die "$copy is a dump of database '$dumped_name', not '$db'"
  # TABLE entries create tables; TABLE DATA fills them and TABLE ATTACH makes a partition of one.
  tables_dumped=$(grep -E '^[0-9]+; [0-9]+ [0-9]+ TABLE ' "$toc" | grep -cvE '^[0-9]+; [0-9]+ [0-9]+ TABLE (DATA|ATTACH) ' || true)

  exists=$(psql_maintenance -v db="$db" <<<"select count(*) from pg_database where datname = :'db'") ||
    backup_die "cannot reach $PGHOST:$PGPORT"
  if ((exists)); then
    holds=$(psql_in "$db" <<<"$OBJECTS_SQL") || backup_die "cannot look into the existing database '$db'"
    if ! holds_nothing "$holds" && ((!overwrite)); then
      backup_die "database '$db' exists on $PGHOST:$PGPORT and holds $holds; restoring $copy would drop and replace it: set RESTORE_OVERWRITE=yes to do that"
    fi
  fi

  restore_missing_roles
  if ((exists)); then
    # Dropped and created again from the dump: that is what brings back its original owner,
    # encoding and collation, which pg_restore --clean into the existing database would not.
    backup_log "dropping the existing database '$db' ($holds)"
    psql_maintenance -v db="$db" <<<'drop database :"db" with (force)' || backup_die "cannot drop database '$db'"
  fi

  # Made here, not in restore_database, which runs in a child process whose temp files the
  # library would not know to remove.
  backup_tmpfile "$TMPDIR" pg-restore-errors || exit 1
  PG_RESTORE_ERRORS=$BACKUP_TMP
  fifo=''
  if [[ -z $BACKUP_RESTORE_MANIFEST ]]; then
    # No manifest: the rows the copy holds are counted from its data while it is restored.
    backup_tmpdir "$TMPDIR" stream || exit 1
    mkfifo -- "$BACKUP_TMP/copy" || backup_die "cannot create a FIFO in $TMPDIR"
    fifo=$BACKUP_TMP/copy
  fi
  backup_tmpfile "$TMPDIR" rows-dumped || exit 1
  expected=$BACKUP_TMP
  backup_run zstd_into "$BACKUP_DIR/$copy" restore_database "$fifo" >"$expected" || backup_die "pg_restore of $copy failed"

  tables=$(psql_in "$db" <<<"$TABLES_SQL") || backup_die "cannot count the restored tables of '$db'"
  ((tables == tables_dumped)) ||
    backup_die "database '$db' has $tables tables after the restore, but $copy lists $tables_dumped"
  if [[ -n $BACKUP_RESTORE_MANIFEST ]]; then
    # The manifest holds the rows the backup counted from this very copy's data: comparing the
    # server with it proves the same as a second decode of the copy, at no extra read (that
    # second decode made a per-database restore 1.5x pg_restore's own time in bench/results.md).
    backup_tmpfile "$TMPDIR" counts-restored || exit 1
    counts_into "$db" "$BACKUP_TMP"
    backup_restore_check_counts "$copy" "$BACKUP_TMP"
    ROWS=$(jq -s '[.[][] | .tables // {} | .[]] | add // 0' "$BACKUP_TMP") || backup_die "cannot read the counts after the restore"
  else
    check_rows "$db" "$copy" "$expected"
  fi
  backup_log "restored database '$db' from $copy: $tables tables and $ROWS rows, as dumped"
}

# Counts what a pg_dumpall stream creates while passing it through: databases and tables, outside
# COPY data (a data line may start with any text).
# shellcheck disable=SC2016 # awk program: its $ are awk's
COUNT_DUMPALL_AWK='
copying { if ($0 == "\\.") copying = 0; print; next }
/^COPY .* FROM stdin;$/ { copying = 1 }
/^CREATE DATABASE / { databases++ }
/^CREATE TABLE / { tables++ }
{ print }
END { print databases + 0, tables + 0 > counts }
'

# list_databases FILE: the non-template databases except the maintenance one, NUL-separated.
list_databases() {
  psql_maintenance -0 -v keep="${PGDATABASE:-postgres}" >"$1" \
    <<<"select datname from pg_database where not datistemplate and datname <> :'keep' order by datname"
}

restore_full() {
  local copy names existing_roles errors counts db holds maintenance_holds databases tables=0 n
  local -a dbs=()
  copy=$(backup_restore_copy '' .sql.zst)
  backup_log "restoring the whole cluster from $copy"
  backup_restore_manifest "$copy"
  backup_tmpfile "$TMPDIR" databases || exit 1
  names=$BACKUP_TMP
  list_databases "$names" || backup_die "cannot list the databases of $PGHOST:$PGPORT"
  mapfile -d '' -t dbs <"$names"
  maintenance_holds=$(psql_maintenance <<<"$OBJECTS_SQL") || backup_die "cannot look into the maintenance database"
  if ((${#dbs[@]})) || ! holds_nothing "$maintenance_holds"; then
    local what='no other database'
    if ((${#dbs[@]})); then what="databases:$(printf " '%s'" "${dbs[@]}")"; fi
    if ((!overwrite)); then
      backup_die "$PGHOST:$PGPORT is not empty ($what; the maintenance database '${PGDATABASE:-postgres}' holds $maintenance_holds); restoring $copy would drop and replace them: set RESTORE_OVERWRITE=yes to do that"
    fi
    for db in "${dbs[@]}"; do
      backup_log "dropping database '$db'"
      psql_maintenance -v db="$db" <<<'drop database :"db" with (force)' || backup_die "cannot drop database '$db'"
    done
    if ! holds_nothing "$maintenance_holds"; then
      # The copy restores the maintenance database's contents into it: it must start empty.
      backup_log "recreating the maintenance database '${PGDATABASE:-postgres}' (it holds $maintenance_holds)"
      psql_in template1 -v db="${PGDATABASE:-postgres}" <<<'drop database :"db" with (force);
create database :"db"' || backup_die "cannot recreate the maintenance database"
    fi
  fi

  backup_tmpfile "$TMPDIR" existing-roles || exit 1
  existing_roles=$BACKUP_TMP
  psql_maintenance -0 -c 'select rolname from pg_roles' >"$existing_roles" || backup_die "cannot list the roles"
  backup_log "roles in the copy replace the attributes and passwords of the target's roles of the same name; other roles of the target stay"
  backup_tmpfile "$TMPDIR" psql-errors || exit 1
  errors=$BACKUP_TMP
  backup_tmpfile "$TMPDIR" counts || exit 1
  counts=$BACKUP_TMP
  # ON_ERROR_STOP off: a pg_dumpall copy always starts with CREATE ROLE for every role, and the
  # target's own superuser exists already. Every other error fails the run (read from stderr).
  # Without a manifest, what the stream creates is counted on its way to psql; with one, the
  # manifest's per-database, per-table counts are the stronger check after the restore, and the
  # counting pass (most of this script's CPU on a large copy) is left out.
  restore_cluster() {
    if [[ -n $BACKUP_RESTORE_MANIFEST ]]; then
      psql -X -w -q -v ON_ERROR_STOP=0 -d "$MAINTENANCE" >/dev/null 2>"$errors"
    else
      awk -v counts="$counts" "$COUNT_DUMPALL_AWK" |
        psql -X -w -q -v ON_ERROR_STOP=0 -d "$MAINTENANCE" >/dev/null 2>"$errors"
    fi
  }
  backup_run zstd_into "$BACKUP_DIR/$copy" restore_cluster || {
    grep -E '(ERROR|FATAL|error):' "$errors" | head -n 20 >&2 || true
    backup_die "psql failed restoring $copy"
  }
  check_psql_errors "$errors" "$existing_roles" || backup_die "restoring $copy failed (errors above)"

  list_databases "$names" || backup_die "cannot list the restored databases"
  mapfile -d '' -t dbs <"$names"
  for db in "${PGDATABASE:-postgres}" "${dbs[@]}"; do
    holds=$(psql_in "$db" <<<"$TABLES_SQL") || backup_die "cannot count the tables of '$db'"
    tables=$((tables + holds))
  done
  databases=${#dbs[@]}
  if [[ -z $BACKUP_RESTORE_MANIFEST ]]; then
    read -r databases n <"$counts"
    ((${#dbs[@]} == databases)) ||
      backup_die "the cluster has ${#dbs[@]} databases after the restore, but $copy creates $databases"
    ((tables == n)) || backup_die "the cluster has $tables tables after the restore, but $copy creates $n"
  else
    local got exists
    backup_tmpfile "$TMPDIR" counts-restored || exit 1
    got=$BACKUP_TMP
    manifest_databases "$names" || backup_die "cannot read the databases of $copy.manifest.json"
    mapfile -d '' -t dbs <"$names"
    for db in "${dbs[@]}"; do
      exists=$(psql_maintenance -v db="$db" <<<"select count(*) from pg_database where datname = :'db' and datallowconn") ||
        backup_die "cannot list the restored databases"
      # A database the copy has and the server lacks stays out of GOT: the comparison names it.
      if ((exists)); then counts_into "$db" "$got"; fi
    done
    backup_restore_check_counts "$copy" "$got"
  fi
  backup_log "restored the cluster from $copy: $databases databases, $tables tables (as in the copy)"
}

# check_psql_errors ERRORS EXISTING_ROLES: psql's error lines, except `role "X" already exists`
# for a role the target had before the restore. Logs only the error lines: psql's context lines
# quote the statement, which can hold data or password hashes.
check_psql_errors() {
  local line role bad=0
  local -A had=()
  while IFS= read -r -d '' role; do had[$role]=1; done <"$2"
  local old_server=0
  (($(server_version_num) >= 170000)) || old_server=1
  while IFS= read -r line; do
    [[ $line =~ (ERROR|FATAL|error): ]] || continue
    if [[ $line =~ ERROR:\ \ role\ \"(.*)\"\ already\ exists$ && -n ${had[${BASH_REMATCH[1]}]:-} ]]; then
      continue
    fi
    # pg_dumpall 17 (the image's client) sets transaction_timeout, which servers before 17 do not know.
    if ((old_server)) && [[ $line == *'ERROR:  unrecognized configuration parameter "transaction_timeout"' ]]; then
      continue
    fi
    bad=$((bad + 1))
    if ((bad <= 20)); then backup_log "psql: ${line#psql:<stdin>:}"; fi
  done <"$1"
  ((bad == 0)) || {
    backup_log "ERROR: $bad unexpected errors from psql"
    return 1
  }
}

case $mode in
  full) restore_full ;;
  per-database)
    backup_require_env RESTORE_DATABASE
    restore_per_database
    ;;
esac
