#!/usr/bin/env bash
# MySQL/MariaDB restore drill (CONTRACT.md, "Restore drills"). `full`: the newest
# mysqldump --all-databases copy; `per-database`: the newest copy of every database under per-db/.
# Each is loaded into a throwaway MariaDB (mariadb-install-db) in DRILL_DIR that listens on a Unix
# socket only (--skip-networking); then every table's rows are counted and compared with the
# copy's manifest, and the policy's queries run.
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
drill_init mysql "$mode"

DATA=$DRILL_DIR/mysql
SOCKET=$DRILL_DIR/mysqld.sock
LOG=$DRILL_DIR/mysqld.log
SERVER_PID=''
stop_server() {
  drill_kill "$SERVER_PID" "MariaDB server"
  rm -rf -- "$DATA" "$SOCKET"
}

CLIENT=(mariadb --no-defaults --socket="$SOCKET" --user=root --default-character-set=utf8mb4)

start_server() {
  local -a as_user=()
  # The server refuses to run as root unless told to (a service whose backup job runs as root),
  # and the install script would hand the files to a mysql user.
  if ((EUID == 0)); then as_user=(--user=root); fi
  drill_on_stop stop_server
  backup_run mariadb-install-db --no-defaults "${as_user[@]}" --datadir="$DATA" --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve >"$LOG" 2>&1 || {
    drill_log_tail "$LOG" mariadb-install-db
    backup_die "mariadb-install-db failed"
  }
  # A full copy replaces the accounts (mysql.global_priv) with production's, whose passwords the
  # drill has not; no FLUSH PRIVILEGES follows, so the server keeps the passwordless root it
  # started with until it stops. No network: nothing else can connect to it.
  mariadbd --no-defaults "${as_user[@]}" --datadir="$DATA" --socket="$SOCKET" --skip-networking \
    --pid-file="$DRILL_DIR/mysqld.pid" --log-error="$LOG" --tmpdir="$TMPDIR" --innodb-buffer-pool-size=256M \
    --innodb-flush-log-at-trx-commit=0 --skip-log-bin --character-set-server=utf8mb4 &
  SERVER_PID=$!
  drill_wait_for "$SERVER_PID" 120 "the throwaway MariaDB server" "$LOG" mariadb-admin --no-defaults --socket="$SOCKET" --user=root ping
  backup_log "throwaway MariaDB $(mariadbd --version | awk '{print $3}') on the socket $SOCKET (no network)"
}

# load COPY [DATABASE]: the copy into the server; a per-database copy into DATABASE, created first
# unless the fresh server has it (the mysql schema) (utf8mb4: the drill checks rows, not the
# database's default collation).
load() {
  local copy=$1 db=${2:-} rc=0 status
  local -a target=()
  if [[ -n $db ]]; then
    # shellcheck disable=SC2016 # the backquotes are MariaDB's identifier quotes
    "${CLIENT[@]}" <<<"CREATE DATABASE IF NOT EXISTS \`${db//\`/\`\`}\` CHARACTER SET utf8mb4" || return 1
    target=(--database="$db")
  fi
  set +o pipefail
  zstd -dcq -- "$BACKUP_DIR/$copy" | "${CLIENT[@]}" --binary-mode "${target[@]}" 2>"$TMPDIR/.drill-load-errors" || rc=$?
  status=("${PIPESTATUS[@]}")
  set -o pipefail
  if ((status[0] != 0)); then
    backup_log "ERROR: cannot decompress $copy"
    rc=1
  fi
  # Only the client's ERROR lines, without the statement they quote ("near '...'"): it can be data.
  grep '^ERROR' "$TMPDIR/.drill-load-errors" | sed -E "s/ near '.*/ near (statement not logged)/" | head -n 5 | while IFS= read -r line; do
    backup_log "mariadb: $line"
  done
  rm -f -- "$TMPDIR/.drill-load-errors"
  return "$rc"
}

sql() { "${CLIENT[@]}" --batch --skip-column-names "$@"; }
hex_of() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
unhex() {
  local hex=$1 out='' i
  for ((i = 0; i < ${#hex}; i += 2)); do out+="\\x${hex:i:2}"; done
  printf '%b' "$out"
}

# count DB: {"tables": {"<table>": rows}} of the restored database (base tables).
count() {
  local db=$1 hex table n got='{}'
  while IFS= read -r hex; do
    [[ $hex =~ ^([0-9A-F]{2})+$ ]] || return 1
    table=$(unhex "$hex")
    # shellcheck disable=SC2016 # the backquotes are MariaDB's identifier quotes
    n=$(sql <<<"SELECT COUNT(*) FROM \`${db//\`/\`\`}\`.\`${table//\`/\`\`}\`") || return 1
    got=$(jq -c --arg t "$table" --argjson n "$n" '. + {($t): $n}' <<<"$got")
  done < <(sql <<<"SELECT HEX(table_name) FROM information_schema.tables
      WHERE table_schema = CONVERT(X'$(hex_of "$db")' USING utf8mb4) AND table_type = 'BASE TABLE' ORDER BY table_name")
  jq -c '{tables: .}' <<<"$got"
}

# counted COPY DB...: {"<db>": counts}. The mysql schema is compared only on the tables the manifest
# lists, less the InnoDB statistics the server itself rewrites: its other tables are the server's own.
counted() {
  local copy=$1 db counts got='{}'
  shift
  for db in "$@"; do
    counts=$(count "$db") || backup_die "cannot count the rows of the restored database '$db'"
    if [[ $db == mysql ]]; then
      counts=$(jq -c --argjson want "$(jq -c '.databases.mysql.tables // {}' "$DRILL_MANIFEST")" \
        '.tables |= with_entries(select(.key as $k | $want | has($k)) | select(.key | test("^innodb_(index|table)_stats$") | not))' <<<"$counts")
    fi
    got=$(jq -c --arg db "$db" --argjson v "$counts" '. + {($db): $v}' <<<"$got")
  done
  printf '%s\n' "$got"
}

# The manifest's mysql schema without the statistics tables, for the same reason.
manifest_without_stats() {
  jq -c 'if .databases.mysql.tables then .databases.mysql.tables |= with_entries(select(.key | test("^innodb_(index|table)_stats$") | not)) else . end' "$DRILL_MANIFEST" \
    >"$TMPDIR/.drill-manifest.json" || backup_die "cannot read the manifest of $1"
  DRILL_MANIFEST=$TMPDIR/.drill-manifest.json
  backup_track "$DRILL_MANIFEST"
}

run_query() { sql --database="$1" -e "$2"; }

drill_full() {
  local copy got hex
  local -a dbs=()
  copy=$(backup_restore_newest '' .sql.zst) || backup_die "no full copy (dump_<timestamp>.sql.zst) in $BACKUP_DIR to drill"
  drill_copy_time "$copy"
  drill_manifest "$copy"
  drill_not_emptied "$copy" dump_ .sql.zst
  drill_restore_started
  start_server
  backup_log "loading $copy"
  backup_run load "$copy" || backup_die "the restore of $copy failed"
  drill_restore_finished
  while IFS= read -r hex; do dbs+=("$(unhex "$hex")"); done < <(sql <<<"SELECT HEX(schema_name) FROM information_schema.schemata
      WHERE schema_name NOT IN ('information_schema', 'performance_schema', 'sys') ORDER BY schema_name")
  got=$(counted "$copy" "${dbs[@]}") || exit 1
  manifest_without_stats "$copy"
  drill_compare_databases "$copy" "$got"
  drill_queries run_query mysql
}

drill_per_database() {
  local path db copy got default=''
  local -a copies=() names=()
  for path in "$BACKUP_DIR"/per-db/*/; do
    path=${path%/}
    [[ -d $path && ! -L $path ]] || continue
    db=${path##*/}
    copy=$(backup_restore_newest "per-db/$db/" .sql.zst) || continue
    copies+=("$copy")
    names+=("$db")
  done
  ((${#copies[@]})) || backup_die "no per-database copy (per-db/<db>/dump_<timestamp>.sql.zst) in $BACKUP_DIR to drill"
  for copy in "${copies[@]}"; do
    drill_copy_time "$copy"
    drill_manifest "$copy"
    drill_not_emptied "$copy" dump_ .sql.zst
  done
  start_server
  for i in "${!copies[@]}"; do
    copy=${copies[i]}
    db=${names[i]}
    backup_log "loading $copy into database '$db'"
    drill_restore_started
    backup_run load "$copy" "$db" || backup_die "the restore of $copy failed"
    drill_restore_finished
    drill_use_manifest "$copy"
    got=$(counted "$copy" "$db") || exit 1
    manifest_without_stats "$copy"
    drill_compare_databases "$copy" "$got"
  done
  if ((${#names[@]} == 1)); then default=${names[0]}; fi
  drill_queries run_query "${default:-mysql}"
}

case $mode in
  full) drill_full ;;
  per-database) drill_per_database ;;
esac
