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

# The manifest's counts (CONTRACT.md, "Manifest") are read from the SQL text of the copy, so they
# are what restoring that copy yields: per table, the lines of its COPY data (one line per row:
# COPY's text format escapes newlines), keyed by the name pg_dump writes after COPY, which is
# quote_ident(schema).quote_ident(table). A COPY counts only right under pg_dump's "Data for Name:
# ...; Type: TABLE DATA" header, so a line of a function body is not taken for one. Databases
# start at pg_dumpall's \connect lines (per-database: BACKUP_MANIFEST_DATABASE); large objects are
# the lo_create calls. The records are those backup_manifest_count_records reads.
IFS= read -r -d '' COUNT_SQL_AWK <<'AWK' || true
function rec(k, d, t, n) { printf "%s%c%s%c%s%c%s%c", k, 0, d, 0, t, 0, n, 0 }
function unescape_backslash(s,   out, i) {
  out = ""
  while ((i = index(s, "\\")) > 0) { out = out substr(s, 1, i - 1) substr(s, i + 1, 1); s = substr(s, i + 2) }
  return out s
}
# The name of a \connect line: bare, or pg_dumpall's -reuse-previous=on "dbname='...'" form.
function connect_name(line,   s) {
  s = substr(line, 10)
  if (s !~ /^-reuse-previous=on "dbname='.*'"$/) return s
  s = substr(s, 21, length(s) - 21)
  gsub(/""/, "\"", s)
  s = substr(s, 9, length(s) - 9)
  return unescape_backslash(s)
}
# The qualified name of COPY <name> [(cols)] FROM stdin;: two identifiers, each bare or "..." with "" doubled.
function ident_end(s, p,   c) {
  if (substr(s, p, 1) == "\"") {
    p++
    while (p <= length(s)) {
      c = substr(s, p, 1)
      if (c == "\"") { if (substr(s, p + 1, 1) == "\"") p += 2; else return p + 1 }
      else p++
    }
    return 0
  }
  while (p <= length(s) && substr(s, p, 1) !~ /[ ."]/) p++
  return p
}
function copy_table(s,   p) {
  p = ident_end(s, 6)
  if (p == 0 || substr(s, p, 1) != ".") return ""
  p = ident_end(s, p + 1)
  if (p == 0) return ""
  return substr(s, 6, p - 6)
}
function start_copy(s) {
  table = copy_table(s)
  if (table == "") { bad = "cannot read the table name of: " substr(s, 1, 200); exit 2 }
  copying = 1; rows = 0
}
BEGIN { db = ENVIRON["BACKUP_MANIFEST_DATABASE"]; if (db != "") { rec("D", db, "", 0); lo[db] += 0 } }
copying { if ($0 == "\\.") { rec("T", db, table, rows); copying = 0 } else rows++; next }
pending != "" { pending = pending "\n" $0; if ($0 ~ / FROM stdin;$/) { start_copy(pending); pending = "" }; next }
/^-- Data for Name: .*; Type: TABLE DATA; / { header = NR; next }
/^COPY / && NR - header <= 3 { if ($0 ~ / FROM stdin;$/) start_copy($0); else pending = $0; next }
/^\\connect / { db = connect_name($0); rec("D", db, "", 0); lo[db] += 0; next }
/^SELECT pg_catalog\.lo_create\('[0-9]+'\);$/ { lo[db]++ }
END {
  for (d in lo) rec("L", d, "", lo[d])
  if (bad != "") { print bad > "/dev/stderr"; exit 2 }
  if (copying || pending != "") { print "the dump ends inside COPY data" > "/dev/stderr"; exit 2 }
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
check_dumpall() {
  local -
  set -o pipefail
  { tee /dev/fd/3 | count_sql; } 3>&1 | backup_expect_trailer '-- PostgreSQL database cluster dump complete'
}
verify_dumpall() { backup_verify_zstd "$1" check_dumpall; }

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
# The same read also goes through `pg_restore -f -` (the archive as the SQL a restore runs, read
# sequentially from the pipe) into the counter: the counts are those of this copy's data, and
# every data block of the archive is decoded once. (Counting with count(*) inside pg_dump's
# exported snapshot was measured against this: CONTRACT.md, "Manifest".)
check_dump() {
  local -
  set -o pipefail
  { tee /dev/fd/3 | pg_restore -f - | count_sql; } 3>&1 | list_toc
}
verify_dump() {
  BACKUP_MANIFEST_DATABASE=$2 backup_verify_zstd "$1" check_dump || {
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
