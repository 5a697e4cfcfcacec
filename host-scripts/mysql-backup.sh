#!/usr/bin/env bash
# MySQL/MariaDB backup. `full`: one mysqldump --all-databases. `per-database`: one dump per database
# (without CREATE DATABASE, so it restores into any database name).
# Interface: CONTRACT.md. The password reaches the client only through a 0600 option file in
# TMPDIR: `-p<password>` would show it in /proc/<pid>/cmdline to every process on the node.
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
backup_init mysql "$mode"
backup_require_env MYSQL_HOST MYSQL_PORT MYSQL_USER

# MariaDB images ship mariadb-dump (mysqldump is a deprecated symlink there), MySQL images mysqldump.
DUMP=$(command -v mariadb-dump || command -v mysqldump) || backup_die "neither mariadb-dump nor mysqldump is installed"
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
  backup_tmpfile "$TMPDIR" mysql-client.cnf
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

# --single-transaction: a consistent InnoDB snapshot without locking the server.
# utf8mb4: the client default (utf8mb3) turns 4-byte characters such as emoji into '?'.
DUMP_OPTIONS=(--single-transaction --routines --triggers --events --hex-blob --default-character-set=utf8mb4)
TRAILER='-- Dump completed'

# The dump and list steps talk to the server, so backup-lib runs them through backup_run.
# --defaults-extra-file must be the first option or the client ignores it.
dump_all_to() { "$DUMP" --defaults-extra-file="$DEFAULTS" "${DUMP_OPTIONS[@]}" --all-databases | backup_zstd_write "$1"; }
dump_to() { "$DUMP" --defaults-extra-file="$DEFAULTS" "${DUMP_OPTIONS[@]}" -- "$1" | backup_zstd_write "$2"; }

# The manifest's counts (CONTRACT.md, "Manifest") are read from the SQL text of the copy, so they
# are what restoring that copy yields: per table, the row tuples of its INSERT statements (one
# statement on one line, or one tuple a line as mariadb-dump 11 writes them). A tuple is counted
# by its opening parenthesis once the string literals are gone: mysqldump escapes every quote,
# backslash and line break inside a string (\', \\, \n), so removing each backslash pair and then
# each '...' leaves no parenthesis that is data; --hex-blob writes binary data as 0x... Tables are
# those of the CREATE TABLE statements (empty ones count 0), databases those of the USE statements
# (per-database: BACKUP_MANIFEST_DATABASE); statements between DELIMITER ;; and DELIMITER ; are
# trigger, routine and event bodies, never data. The records are those
# backup_manifest_count_records reads.
IFS= read -r -d '' COUNT_SQL_AWK <<'AWK' || true
function rec(k, d, t, n) { printf "%s%c%s%c%s%c%s%c", k, 0, d, 0, t, 0, n, 0 }
# A backquoted identifier starting at s's first backquote: its name (`` undoubled) in ident, and
# the position after it in ident_next.
function bq(s,   p, c, out) {
  p = index(s, "`"); out = ""
  if (p == 0) return 0
  p++
  while (p <= length(s)) {
    c = substr(s, p, 1)
    if (c == "`") { if (substr(s, p + 1, 1) == "`") { out = out "`"; p += 2; continue } ident = out; ident_next = p + 1; return 1 }
    out = out c; p++
  }
  return 0
}
# Counts per table are keyed by the length-prefixed pair: no character in a name can make two
# tables share a key.
function table_key(d, t,   k) {
  k = length(d) ":" d t
  kdb[k] = d; ktab[k] = t
  return k
}
function tuples(s) {
  # Fast path: two tuples on one line are always joined by "),(": a line without that sequence
  # holds at most one tuple (mariadb-dump 11 writes one a line), starting at its first character,
  # and it ends the statement when its last character is ';' (strings never end a line).
  if (index(s, "),(") == 0) {
    if (s ~ /;$/) inserting = 0
    return substr(s, 1, 1) == "(" ? 1 : 0
  }
  gsub(/\\./, "", s)
  gsub(/'[^']*'/, "", s)
  if (s ~ /;[ \t\r]*$/) inserting = 0
  return gsub(/\(/, "", s)
}
BEGIN { delim = ";"; db = ENVIRON["BACKUP_MANIFEST_DATABASE"]; if (db != "") rec("D", db, "", 0) }
inserting { rows[key] += tuples($0); next }
/^DELIMITER / { delim = $2; next }
delim != ";" { next }
/^INSERT INTO `/ {
  if (!bq($0)) { bad = "cannot read the table name of: " substr($0, 1, 200); exit 2 }
  key = table_key(db, ident); inserting = 1
  rest = substr($0, ident_next)
  if (!sub(/^ VALUES ?/, "", rest)) { bad = "unexpected INSERT statement: " substr($0, 1, 200); exit 2 }
  rows[key] += tuples(rest)
  next
}
/^CREATE TABLE (IF NOT EXISTS )?`/ {
  if (!bq($0)) { bad = "cannot read the table name of: " substr($0, 1, 200); exit 2 }
  table_key(db, ident); next
}
/^USE `/ {
  if (!bq($0)) { bad = "cannot read the database name of: " substr($0, 1, 200); exit 2 }
  db = ident; rec("D", db, "", 0); next
}
END {
  if (bad != "") { print bad > "/dev/stderr"; exit 2 }
  if (inserting) { print "the dump ends inside an INSERT statement" > "/dev/stderr"; exit 2 }
  for (k in kdb) rec("T", kdb[k], ktab[k], rows[k] + 0)
}
AWK
# producer | count_sql: the decompressed SQL on stdin; writes the "databases" section into the
# manifest's sections file.
count_sql() {
  local -
  set -o pipefail
  mawk "$COUNT_SQL_AWK" | backup_manifest_count_records >"$BACKUP_MANIFEST_SECTIONS"
}
# One read of the copy (backup_verify_zstd) feeds both the completion check and the counter (tee).
check_dump() {
  local -
  set -o pipefail
  { tee /dev/fd/3 | count_sql; } 3>&1 | backup_expect_trailer "$TRAILER"
}
verify_dump() { BACKUP_MANIFEST_DATABASE=${2:-} backup_verify_zstd "$1" check_dump; }

# NUL-separated names, as backup_each_database reads them; server metadata, rebuilt by the server
# itself (mysqldump refuses most of it), is left out. The server sends each name as hex:
# under LC_ALL=C the client's default character set is latin1, which turned 'café' into bytes that
# mariadb-dump then rejected as invalid utf8mb4, and batch output escapes tabs, newlines and
# backslashes. Hex is the name's exact UTF-8 bytes whatever the client's settings.
list_to() {
  local hex escaped i
  "$CLIENT" --defaults-extra-file="$DEFAULTS" --default-character-set=utf8mb4 --batch --skip-column-names -e \
    "SELECT HEX(schema_name) FROM information_schema.schemata
     WHERE schema_name NOT IN ('information_schema', 'performance_schema', 'sys') ORDER BY schema_name" |
    while IFS= read -r hex; do
      [[ $hex =~ ^([0-9A-F]{2})+$ ]] || return 1
      escaped=''
      for ((i = 0; i < ${#hex}; i += 2)); do escaped+="\\x${hex:i:2}"; done
      printf '%b\0' "$escaped"
    done >"$1"
}

case $mode in
  full)
    backup_log "${DUMP##*/} --all-databases from $MYSQL_HOST:$MYSQL_PORT as $MYSQL_USER"
    backup_one_copy dump_ .sql.zst "${DUMP##*/}" dump_all_to verify_dump
    ;;
  per-database) backup_each_database dump_ .sql.zst "${DUMP##*/}" list_to dump_to verify_dump ;;
esac
