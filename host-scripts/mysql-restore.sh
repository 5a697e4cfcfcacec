#!/usr/bin/env bash
# MySQL/MariaDB restore. `full`: a mysqldump --all-databases copy (accounts included) into the
# server. `per-database`: one database's copy, created first with the character set and collation
# the newest full copy recorded for it. Interface: the restore contract in CONTRACT.md.
# The password reaches the client only through a 0600 option file in TMPDIR, never an argument.
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
backup_restore_init mysql "$mode"
backup_require_env MYSQL_HOST MYSQL_PORT MYSQL_USER

overwrite=0
if [[ ${RESTORE_OVERWRITE:-} == yes ]]; then overwrite=1; fi

CLIENT=$(command -v mariadb || command -v mysql) || backup_die "neither mariadb nor mysql is installed"

# Option-file value syntax: double quotes around the value (so '#' and spaces survive), with
# backslash, double quote and newline escaped as the option-file parser expects.
option_value() {
  local v=$1
  v=${v//\\/\\\\}
  v=${v//\"/\\\"}
  v=${v//$'\n'/\\n}
  printf '"%s"' "$v"
}

write_defaults_file() {
  backup_tmpfile "$TMPDIR" mysql-client.cnf || exit 1
  DEFAULTS=$BACKUP_TMP
  chmod 600 -- "$DEFAULTS"
  # printf is a builtin: the password never appears in any process's argument list.
  {
    printf '[client]\n'
    printf 'host=%s\n' "$(option_value "$MYSQL_HOST")"
    printf 'port=%s\n' "$MYSQL_PORT"
    # Without this, host=localhost means a Unix socket, which does not exist in the job's pod.
    printf 'protocol=TCP\n'
    printf 'user=%s\n' "$(option_value "$MYSQL_USER")"
    if [[ -n ${MYSQL_PASSWORD:-} ]]; then
      printf 'password=%s\n' "$(option_value "$MYSQL_PASSWORD")"
    fi
  } >"$DEFAULTS"
}
write_defaults_file

# mysql_sql: SQL on stdin, batch output without column names. utf8mb4: the client's default
# (latin1 under LC_ALL=C, utf8mb3 otherwise) mangles non-ASCII names and 4-byte characters.
# --defaults-extra-file must be the first option or the client ignores it.
mysql_sql() { "$CLIENT" --defaults-extra-file="$DEFAULTS" --default-character-set=utf8mb4 --batch --skip-column-names "$@"; }

# Names go into SQL as hex literals and backquoted identifiers, never as text the shell quoted:
# any name the server allows (quotes, backslashes, '=', non-ASCII) stays exactly itself.
hex_of() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
name_literal() { printf "CONVERT(X'%s' USING utf8mb4)" "$(hex_of "$1")"; }
# shellcheck disable=SC2016 # the backquotes are MariaDB's identifier quotes
quoted_name() { printf '`%s`' "${1//\`/\`\`}"; }

# list_databases FILE: the non-system databases, NUL-separated (sent as hex, as the backup does).
SYSTEM_SCHEMAS="'information_schema', 'performance_schema', 'sys', 'mysql'"
list_databases() {
  local hex escaped i
  mysql_sql <<<"SELECT HEX(schema_name) FROM information_schema.schemata
     WHERE schema_name NOT IN ($SYSTEM_SCHEMAS) ORDER BY schema_name" |
    while IFS= read -r hex; do
      [[ $hex =~ ^([0-9A-F]{2})+$ ]] || return 1
      escaped=''
      for ((i = 0; i < ${#hex}; i += 2)); do escaped+="\\x${hex:i:2}"; done
      printf '%b\0' "$escaped"
    done >"$1"
}

# Counts the tables a dump creates while passing it through: CREATE TABLE statements (views are
# written as /*!50001 ... */ stand-ins, which do not match), outside the mysql schema, whose
# tables the server owns. mysqldump writes every value on its INSERT line, so no data line can
# start with CREATE. Appends FLUSH PRIVILEGES when asked: restored accounts only take effect then.
# shellcheck disable=SC2016 # awk program: its $ are awk's
COUNT_TABLES_AWK='
/^USE `/ { system_db = ($0 == "USE `mysql`;") }
/^CREATE DATABASE / && index($0, "*/ `mysql` ") == 0 { databases++ }
/^CREATE TABLE / && !system_db { tables++ }
{ print }
END {
  if (flush) print "FLUSH PRIVILEGES;"
  print databases + 0, tables + 0 > counts
}
'

# zstd_into FILE COMMAND...: decompresses FILE into COMMAND. A reader that stops early (grep -m 1)
# makes zstd die of SIGPIPE, which is not a failure.
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

# load_into ERRORS COUNTS FLUSH [CLIENT OPTION...]: a dump on stdin into the server. The client
# stops at the first error. Its message quotes the statement ("near '...'"), which can be data or
# an account's password hash: only the message before the quote is logged.
load_into() {
  local errors=$1 counts=$2 flush=$3
  shift 3
  awk -v counts="$counts" -v flush="$flush" "$COUNT_TABLES_AWK" |
    mysql_sql "$@" >/dev/null 2>"$errors"
}
log_client_errors() {
  sed -E "s/ near '.*/ near (statement not logged)/" "$1" | head -n 5 | while IFS= read -r line; do
    backup_log "${CLIENT##*/}: $line"
  done
}

# tables_in WHERE: base tables in the schemas WHERE selects.
tables_in() {
  mysql_sql <<<"SELECT COUNT(*) FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND $1"
}

# --- The copy's manifest (host-scripts/CONTRACT.md, "Backup manifest") -------------------------
# The backup writes <copy>.manifest.json beside each copy: the rows of every table that restoring
# that copy yields. When it is there, the restored server is counted the same way and compared; a
# copy without one (made before manifests) is checked against its own statements only. The
# server's own schemas are not compared: it rewrites their statistics tables itself.
SYSTEM_SCHEMAS_JSON='["information_schema", "performance_schema", "sys", "mysql"]'

# One database's counts in the manifest's shape, {"tables": {"<table>": rows}}: base tables (and
# system-versioned ones, whose current rows the dump holds), counted in one statement the server
# builds from its catalog, names quoted by the server itself. --raw: the JSON's backslashes as sent.
counts_sql() {
  printf '%s\n' "SET SESSION group_concat_max_len = 1073741824;
SELECT GROUP_CONCAT(CONCAT('SELECT ', QUOTE(table_name), ' AS t, COUNT(*) AS n FROM \`', REPLACE(table_schema, '\`', '\`\`'), '\`.\`', REPLACE(table_name, '\`', '\`\`'), '\`') SEPARATOR ' UNION ALL ') INTO @counts
  FROM information_schema.tables WHERE table_schema = $(name_literal "$1") AND table_type IN ('BASE TABLE', 'SYSTEM VERSIONED');
SET @counts = CONCAT('SELECT JSON_OBJECT(''tables'', IFNULL(JSON_OBJECTAGG(t, n), JSON_OBJECT())) FROM (',
  IFNULL(@counts, 'SELECT NULL AS t, 0 AS n FROM DUAL WHERE FALSE'), ') x');
PREPARE counts FROM @counts;
EXECUTE counts;
DEALLOCATE PREPARE counts;"
}

# counts_into DB FILE: appends {"DB": counts} to FILE (one JSON object per line).
counts_into() {
  local db=$1 counts
  counts=$(counts_sql "$db" | mysql_sql --raw) || backup_die "cannot count the rows of '$db' after the restore"
  jq -c --arg db "$db" '{($db): .}' <<<"$counts" >>"$2" || backup_die "unexpected counts from '$db'"
}

# check_manifest_databases COPY NAMES: counts every database NAMES lists (NUL-separated, those on
# the server after the restore) and compares with the manifest.
check_manifest_databases() {
  local copy=$1 got db
  local -a dbs=()
  backup_tmpfile "$TMPDIR" counts-restored || exit 1
  got=$BACKUP_TMP
  mapfile -d '' -t dbs <"$2"
  for db in "${dbs[@]}"; do counts_into "$db" "$got"; done
  backup_restore_check_counts "$copy" "$got" "$SYSTEM_SCHEMAS_JSON"
}

# --- Accounts --------------------------------------------------------------------------------
# A full copy holds the mysql schema, whose account tables replace the target's wholesale: an
# account the copy lacks is gone, one it has with another password or plugin takes the copy's.
# Accounts as user, host, plugin and authentication string, each in hex, one per line, sorted.

ACCOUNT_COLUMNS="HEX(User), HEX(Host), HEX(IFNULL(JSON_VALUE(Priv, '\$.plugin'), '')), HEX(IFNULL(JSON_VALUE(Priv, '\$.authentication_string'), ''))"

# target_accounts FILE: the server's accounts (MariaDB's mysql.global_priv, else MySQL's mysql.user).
target_accounts() {
  {
    mysql_sql <<<"SELECT $ACCOUNT_COLUMNS FROM mysql.global_priv" 2>/dev/null ||
      mysql_sql <<<'SELECT HEX(User), HEX(Host), HEX(plugin), HEX(authentication_string) FROM mysql.user'
  } | LC_ALL=C sort >"$1"
}

# The copy's INSERT statements for mysql.global_priv (MariaDB 10.4 and later), from its mysql
# schema only, each as one line. mariadb-dump writes the statement on one line or one row per
# line; either way a line break falls only between rows (values escape theirs as \n). The
# account tables come in the mysql schema's first section: reading stops at the section's end.
# shellcheck disable=SC2016 # awk program: its $ are awk's
GLOBAL_PRIV_AWK='
inserting { statement = statement " " $0; if ($0 ~ /;$/) { print statement; inserting = 0 }; next }
/^USE `/ { if (in_mysql) exit; in_mysql = ($0 == "USE `mysql`;"); next }
in_mysql && index($0, "INSERT INTO `global_priv` VALUES") == 1 {
  statement = $0
  if ($0 ~ /;$/) print statement; else inserting = 1
}
'

# copy_accounts COPY FILE: the copy's accounts into FILE. The server reads the copy's own INSERT
# values as a table value constructor, so they are parsed by the same rules the restore loads
# them with, and nothing is written. Fails when the copy holds no mysql.global_priv rows.
copy_accounts() {
  local copy=$1 out=$2 inserts values
  backup_tmpfile "$TMPDIR" copy-accounts || exit 1
  inserts=$BACKUP_TMP
  backup_run zstd_into "$BACKUP_DIR/$copy" awk "$GLOBAL_PRIV_AWK" >"$inserts" || return 1
  [[ -s $inserts ]] || return 1
  : >"$out"
  while IFS= read -r values; do
    # shellcheck disable=SC2016 # the backquotes are MariaDB's identifier quotes
    values=${values#'INSERT INTO `global_priv` VALUES'}
    values=${values%;}
    # The statement holds password hashes: its text is never logged (errors dropped, then refused).
    mysql_sql <<<"WITH c (Host, User, Priv) AS (VALUES $values) SELECT $ACCOUNT_COLUMNS FROM c" >>"$out" 2>/dev/null || return 1
  done <"$inserts"
  LC_ALL=C sort -o "$out" -- "$out"
}

# unhex HEX: the bytes HEX spells.
unhex() {
  local hex=$1 escaped='' i
  for ((i = 0; i < ${#hex}; i += 2)); do escaped+="\\x${hex:i:2}"; done
  printf '%b' "$escaped"
}

# account_names FILE: 'user'@'host' for each line of FILE (hex columns), space-separated.
account_names() {
  local user host rest
  while IFS=$'\t' read -r user host rest; do
    printf " '%s'@'%s'" "$(unhex "$user")" "$(unhex "$host")"
  done <"$1"
}

restore_full() {
  local copy names db errors counts databases tables_dumped tables accounts_now accounts_copy replaced who=''
  local -a dbs=() holds=()
  copy=$(backup_restore_copy '' .sql.zst)
  backup_log "restoring the whole server from $copy"
  backup_restore_manifest "$copy"
  backup_tmpfile "$TMPDIR" databases || exit 1
  names=$BACKUP_TMP
  list_databases "$names" || backup_die "cannot list the databases of $MYSQL_HOST:$MYSQL_PORT"
  mapfile -d '' -t dbs <"$names"

  # The accounts the copy would remove or change: the target's accounts that the copy does not
  # have exactly as they are (same user, host, plugin and authentication string).
  backup_tmpfile "$TMPDIR" accounts-target || exit 1
  accounts_now=$BACKUP_TMP
  target_accounts "$accounts_now" || backup_die "cannot list the accounts of $MYSQL_HOST:$MYSQL_PORT"
  backup_tmpfile "$TMPDIR" accounts-copy || exit 1
  accounts_copy=$BACKUP_TMP
  backup_tmpfile "$TMPDIR" accounts-replaced || exit 1
  replaced=$BACKUP_TMP
  if copy_accounts "$copy" "$accounts_copy"; then
    LC_ALL=C comm -23 -- "$accounts_now" "$accounts_copy" >"$replaced"
  else
    backup_log "the accounts in $copy cannot be read (no mysql.global_priv rows: a MySQL or MariaDB before 10.4 wrote it): every account of $MYSQL_HOST:$MYSQL_PORT counts as replaced"
    cp -- "$accounts_now" "$replaced"
  fi
  if [[ -s $replaced ]]; then who=$(account_names "$replaced"); fi

  if ((${#dbs[@]})); then holds+=("databases:$(printf " '%s'" "${dbs[@]}")"); fi
  if [[ -n $who ]]; then holds+=("accounts that the copy's accounts would remove or change (password or plugin):$who"); fi
  if ((${#holds[@]})) && ((!overwrite)); then
    backup_die "$MYSQL_HOST:$MYSQL_PORT holds $(printf '%s; ' "${holds[@]}")restoring $copy would drop and replace them (the copy's accounts replace every account of the server): set RESTORE_OVERWRITE=yes to do that"
  fi
  for db in "${dbs[@]}"; do
    backup_log "dropping database '$db'"
    mysql_sql <<<"DROP DATABASE $(quoted_name "$db")" || backup_die "cannot drop database '$db'"
  done
  # The copy holds the mysql schema: its account tables replace the target's wholesale.
  if [[ -n $who ]]; then
    backup_log "the accounts of $copy replace every account of $MYSQL_HOST:$MYSQL_PORT: these are removed or take the copy's password:$who"
    if grep -q "^$(printf '%s' "$MYSQL_USER" | od -An -v -tx1 | tr -d ' \n' | tr a-f A-F)"$'\t' "$replaced"; then
      backup_log "WARNING: this restore's own user '$MYSQL_USER' is among them: the checks after the load, and the backup jobs, log in with the Secret's password, which must be the copy's from now on"
    fi
  else
    backup_log "the accounts of $copy replace every account of $MYSQL_HOST:$MYSQL_PORT; each account the server has is in the copy as it is, none is removed or changed"
  fi
  backup_tmpfile "$TMPDIR" client-errors || exit 1
  errors=$BACKUP_TMP
  backup_tmpfile "$TMPDIR" counts || exit 1
  counts=$BACKUP_TMP
  backup_run zstd_into "$BACKUP_DIR/$copy" load_into "$errors" "$counts" 1 || {
    log_client_errors "$errors"
    backup_die "restoring $copy failed"
  }
  backup_log "privileges flushed: the restored accounts are in effect"

  read -r databases tables_dumped <"$counts"
  list_databases "$names" || backup_die "cannot list the restored databases"
  mapfile -d '' -t dbs <"$names"
  ((${#dbs[@]} == databases)) ||
    backup_die "the server has ${#dbs[@]} databases after the restore, but $copy creates $databases"
  tables=$(tables_in "table_schema NOT IN ($SYSTEM_SCHEMAS)") || backup_die "cannot count the restored tables"
  ((tables == tables_dumped)) || backup_die "the server has $tables tables after the restore, but $copy creates $tables_dumped"
  if [[ -n $BACKUP_RESTORE_MANIFEST ]]; then check_manifest_databases "$copy" "$names"; fi
  backup_log "restored the server from $copy: $databases databases, $tables tables (as in the copy)"
}

# first_line_with FILE TEXT: the first line of stdin that contains TEXT, into FILE (empty if none).
first_line_with() { grep -F -m 1 -e "$2" >"$1" || true; }

# charset_from_full_copy DB: sets CHARSET and COLLATION (empty: the character set's default) from
# the newest full copy's CREATE DATABASE line for DB. Per-database copies carry no CREATE DATABASE
# (so that they restore under any name); the full copy is the only record of the database's
# defaults. Fails when no full copy has the line.
charset_from_full_copy() {
  local db=$1 full line
  full=$(backup_restore_newest '' .sql.zst) || return 1
  backup_tmpfile "$TMPDIR" create-database || exit 1
  backup_run zstd_into "$BACKUP_DIR/$full" first_line_with "$BACKUP_TMP" "CREATE DATABASE /*!32312 IF NOT EXISTS*/ $(quoted_name "$db") " ||
    return 1
  line=$(<"$BACKUP_TMP")
  [[ $line =~ DEFAULT\ CHARACTER\ SET\ ([A-Za-z0-9_]+)(\ COLLATE\ ([A-Za-z0-9_]+))? ]] || return 1
  CHARSET=${BASH_REMATCH[1]} COLLATION=${BASH_REMATCH[3]}
  backup_log "database defaults from $full: character set $CHARSET${COLLATION:+, collation $COLLATION}"
}

restore_per_database() {
  local db=$RESTORE_DATABASE copy exists tables errors counts databases tables_dumped
  copy=$(backup_restore_copy "per-db/$db/" .sql.zst)
  backup_log "restoring database '$db' from $copy"
  backup_restore_manifest "$copy"
  exists=$(mysql_sql <<<"SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = $(name_literal "$db")") ||
    backup_die "cannot reach $MYSQL_HOST:$MYSQL_PORT"
  if ((exists)); then
    tables=$(mysql_sql <<<"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $(name_literal "$db")") ||
      backup_die "cannot look into the existing database '$db'"
    if ((tables && !overwrite)); then
      backup_die "database '$db' exists on $MYSQL_HOST:$MYSQL_PORT and holds $tables tables and views; restoring $copy would drop and replace it: set RESTORE_OVERWRITE=yes to do that"
    fi
  fi

  if ! charset_from_full_copy "$db"; then
    CHARSET=utf8mb4 COLLATION=''
    backup_log "no CREATE DATABASE for '$db' in a full copy: creating it with character set utf8mb4 and the server's default collation for it"
  fi
  if ((exists)); then
    # Dropped and created again: that is what brings back its original character set and
    # collation, and removes tables the copy does not have.
    backup_log "dropping the existing database '$db' ($tables tables and views)"
    mysql_sql <<<"DROP DATABASE $(quoted_name "$db")" || backup_die "cannot drop database '$db'"
  fi
  mysql_sql <<<"CREATE DATABASE $(quoted_name "$db") CHARACTER SET $CHARSET${COLLATION:+ COLLATE $COLLATION}" ||
    backup_die "cannot create database '$db'"

  backup_tmpfile "$TMPDIR" client-errors || exit 1
  errors=$BACKUP_TMP
  backup_tmpfile "$TMPDIR" counts || exit 1
  counts=$BACKUP_TMP
  # --database, not USE in the stream: the client takes the name as given, whatever it holds.
  backup_run zstd_into "$BACKUP_DIR/$copy" load_into "$errors" "$counts" 0 --database="$db" || {
    log_client_errors "$errors"
    backup_die "restoring $copy failed"
  }
  read -r databases tables_dumped <"$counts"
  tables=$(tables_in "table_schema = $(name_literal "$db")") || backup_die "cannot count the restored tables of '$db'"
  ((tables == tables_dumped)) ||
    backup_die "database '$db' has $tables tables after the restore, but $copy creates $tables_dumped"
  if [[ -n $BACKUP_RESTORE_MANIFEST ]]; then
    backup_tmpfile "$TMPDIR" restored-database || exit 1
    printf '%s\0' "$db" >"$BACKUP_TMP"
    check_manifest_databases "$copy" "$BACKUP_TMP"
  fi
  backup_log "restored database '$db' from $copy: $tables tables (as in the copy)"
}

case $mode in
  full) restore_full ;;
  per-database)
    backup_require_env RESTORE_DATABASE
    restore_per_database
    ;;
esac
