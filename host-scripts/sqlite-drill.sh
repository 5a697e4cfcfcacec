#!/usr/bin/env bash
# SQLite restore drill (CONTRACT.md, "Restore drills"): the newest copy (db_<ts>.sqlite3) is opened
# read-only and immutable where it lies (SQLite then writes nothing beside it, not even a lock),
# checked with integrity_check, its rows per table compared with the copy's manifest, and the
# policy's queries run on it; the files archive of the same run (files_<ts>.tar.zst) is unpacked
# into DRILL_DIR and every file's size and BLAKE2b compared with its manifest.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"
# shellcheck source=drill-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/drill-lib.sh"

[[ ${1:-} == snapshot ]] || {
  echo "usage: $0 snapshot" >&2
  exit 2
}
drill_init sqlite snapshot

FILES=$DRILL_DIR/files
remove_files() { rm -rf -- "$FILES"; }

copy=$(backup_restore_newest '' .sqlite3 db_) || backup_die "no copy (db_<timestamp>.sqlite3) in $BACKUP_DIR to drill"
drill_copy_time "$copy"
drill_manifest "$copy"
drill_not_emptied "$copy" db_ .sqlite3

# A read-only, immutable URI: a missing file is an error, and nothing is written beside the copy.
uri=$BACKUP_DIR/$copy
uri=${uri//%/%25}
uri=${uri//\?/%3f}
uri=${uri//#/%23}
uri="file:$uri?mode=ro&immutable=1"
db() { sqlite3 -bail -readonly "$uri" "$@"; }

drill_restore_started
[[ $(head -c 15 -- "$BACKUP_DIR/$copy" | tr -d '\0') == 'SQLite format 3' ]] || backup_die "$copy is not an SQLite database (bad header)"
check=$(backup_run db 'PRAGMA integrity_check;' 2>&1) || backup_die "integrity_check cannot run on $copy: $(head -c 300 <<<"$check" | tr '\n' ' ')"
[[ $check == ok ]] || backup_die "integrity_check of $copy fails: $(head -n 5 <<<"$check" | tr '\n' ' ')"
drill_restore_finished

# Rows per table, as the manifest keys them (the table name as-is): names go through hex, and
# into SQL as "..." identifiers with " doubled.
unhex() {
  local hex=$1 out='' i
  for ((i = 0; i < ${#hex}; i += 2)); do out+="\\x${hex:i:2}"; done
  printf '%b' "$out"
}
tables='{}'
while IFS= read -r hex; do
  [[ $hex =~ ^([0-9A-F]{2})+$ ]] || backup_die "cannot list the tables of $copy"
  table=$(unhex "$hex")
  n=$(db "SELECT COUNT(*) FROM \"${table//\"/\"\"}\";") || backup_die "cannot count the rows of table '$table' in $copy"
  tables=$(jq -c --arg t "$table" --argjson n "$n" '. + {($t): $n}' <<<"$tables")
done < <(db "SELECT hex(name) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name;")
drill_compare_databases "$copy" "$(jq -c '{main: {tables: .}}' <<<"$tables")"

# The files archive of the same run, when the service keeps extra files.
ts=${copy#db_}
ts=${ts%.sqlite3}
archive=files_$ts.tar.zst
if [[ -f $BACKUP_DIR/$archive ]]; then
  drill_manifest "$archive"
  drill_on_stop remove_files
  mkdir -m 700 -- "$FILES" || backup_die "cannot create $FILES"
  drill_restore_started
  backup_run tar --zstd -xf "$BACKUP_DIR/$archive" -C "$FILES" --no-same-owner --no-same-permissions ||
    backup_die "cannot unpack $archive"
  drill_restore_finished
  got=$(cd "$FILES" && find . -type f -printf '%P\0' | while IFS= read -r -d '' f; do
    printf '%s\0%s\0%s\0' "$f" "$(stat -c %s -- "$f")" "$(b2sum <"$f" | cut -d ' ' -f 1)"
  done | jq -R -s -c 'split("\u0000") | .[:-1] | [range(0; length; 3) as $i | {key: .[$i], value: {bytes: (.[$i + 1] | tonumber), blake2b: .[$i + 2]}}] | from_entries') ||
    backup_die "cannot read the files unpacked from $archive"
  diff=$(jq -r --argjson got "$got" '(.files // {}) as $w
    | ([$w | keys[]] + [$got | keys[]] | unique)[] as $f
    | if ($w | has($f) | not) then "file \($f | @json) is in the archive but not in the manifest"
      elif ($got | has($f) | not) then "file \($f | @json): in the manifest, missing from the archive"
      elif $w[$f].bytes != $got[$f].bytes then "file \($f | @json): manifest \($w[$f].bytes) bytes, unpacked \($got[$f].bytes)"
      elif $w[$f].blake2b != $got[$f].blake2b then "file \($f | @json): its BLAKE2b differs from the manifest"
      else empty end' "$DRILL_MANIFEST") || backup_die "cannot compare $archive with its manifest"
  if [[ -n $diff ]]; then
    while IFS= read -r line; do backup_log "ERROR: $archive: $line"; done <<<"$diff"
    backup_die "the files of $archive are not those its manifest records (above)"
  fi
  backup_log "$archive: $(jq 'length' <<<"$got") files, as the manifest records"
  remove_files
fi

run_query() { db "$2"; }
drill_queries run_query main
