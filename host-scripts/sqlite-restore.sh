#!/usr/bin/env bash
# SQLite restore: a database copy (db_<ts>.sqlite3) and the extra files of the same run
# (files_<ts>.tar.zst) into the application's data volume, with the application stopped.
# Interface: the restore contract in CONTRACT.md.
#
# Nothing is ever half restored: the database is copied to a work name beside the live one,
# checked, then renamed; the files are unpacked into a work directory in the volume, checked, then
# each configured path is renamed into place. What a restore replaces is renamed
# <name>.before-restore-<ts>, never deleted.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"
# shellcheck source=sqlite-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sqlite-lib.sh"

mode=${1:-}
if [[ $mode != snapshot ]]; then
  echo "usage: $0 snapshot" >&2
  exit 2
fi
backup_restore_init sqlite "$mode"
backup_require_env SQLITE_DATA_DIR SQLITE_DB
[[ -d $SQLITE_DATA_DIR ]] || backup_die "SQLITE_DATA_DIR '$SQLITE_DATA_DIR' is not a directory (the application's data volume)"
live=$(backup_sqlite_path "$SQLITE_DB") || backup_die "invalid SQLITE_DB"
overwrite=0
if [[ ${RESTORE_OVERWRITE:-} == yes ]]; then overwrite=1; fi
aside=before-restore-$BACKUP_TS

writer_hint() {
  if [[ -n ${RESTORE_WORKLOAD:-} ]]; then
    printf 'kubectl -n %s scale %s --replicas=%s' "${RESTORE_NAMESPACE:-default}" "$RESTORE_WORKLOAD" "$1"
  else
    printf 'scale the application that writes %s to %s' "$SQLITE_DB" "$1"
  fi
}

# 1. No writer. A WAL database's last connection checkpoints and empties (or deletes) the -wal on
# a clean close, so a non-empty one means a process still has it open, or died with commits only
# the WAL holds: restoring under either loses data or is overwritten by it.
if [[ -s $live-wal ]]; then
  backup_die "$SQLITE_DB-wal holds $(stat -c %s -- "$live-wal") bytes: a writer has the database open. Stop the writer first: $(writer_hint 0). If it is stopped, it died before a checkpoint and the WAL holds its last commits: open the database once with sqlite3 (which checkpoints them) or move the -wal aside, then restore again"
fi

# 2. The copies: the database of the chosen run and that run's files archive.
copy=$(backup_restore_copy '' .sqlite3 db_)
ts=${copy#db_}
ts=${ts%.sqlite3}
src=$BACKUP_DIR/$copy
archive=''
if [[ -f $BACKUP_DIR/files_$ts.tar.zst ]]; then archive=files_$ts.tar.zst; fi
read -r -a required <<<"${SQLITE_EXTRA_PATHS:-}"
read -r -a optional <<<"${SQLITE_OPTIONAL_EXTRA_PATHS:-}"
if [[ -z $archive ]] && ((${#required[@]})); then
  backup_die "no files_$ts.tar.zst beside $copy, but the backup always archives ${required[*]}: choose another copy"
fi
backup_log "restoring $copy${archive:+ and $archive}"

# check_manifest COPY: the copy's size and BLAKE2b digest against its manifest, when there is one.
check_manifest() {
  local name=$1 file=$BACKUP_DIR/$1 m=$BACKUP_DIR/$1.manifest.json want_bytes want_digest digest
  [[ -f $m ]] || {
    backup_log "no manifest beside $name (an older copy): not compared"
    return 0
  }
  jq -e 'type == "object" and .format == 1' -- "$m" >/dev/null || backup_die "$name.manifest.json is not a format 1 manifest"
  want_bytes=$(jq -r '.bytes // empty' -- "$m")
  want_digest=$(jq -r '.blake2b // empty' -- "$m")
  if [[ -n $want_bytes && $want_bytes != "$(stat -c %s -- "$file")" ]]; then backup_die "$name: the manifest says $want_bytes bytes, the copy has $(stat -c %s -- "$file")"; fi
  if [[ -n $want_digest ]]; then
    digest=$(b2sum <"$file") || backup_die "cannot read $name"
    [[ ${digest%% *} == "$want_digest" ]] || backup_die "$name: its BLAKE2b digest differs from the manifest's (the copy changed since it was written)"
  fi
}
check_manifest "$copy"
if [[ -n $archive ]]; then check_manifest "$archive"; fi

normalize() {
  local p=$1
  while [[ $p == ./* ]]; do p=${p#./}; done
  while [[ $p == */ ]]; do p=${p%/}; done
  printf '%s' "$p"
}
# The configured paths the archive holds (the backup skips absent optional ones).
paths=()
if [[ -n $archive ]]; then
  backup_tmpfile "$TMPDIR" listing
  listing=$BACKUP_TMP
  zstd -dcq -- "$BACKUP_DIR/$archive" | tar -tf - >"$listing" || backup_die "tar cannot list $archive"
  for p in "${required[@]}" "${optional[@]}"; do
    backup_sqlite_path "$p" >/dev/null || backup_die "invalid SQLITE_EXTRA_PATHS / SQLITE_OPTIONAL_EXTRA_PATHS"
    p=$(normalize "$p")
    if grep -qxF -e "$p" -e "$p/" -- "$listing"; then
      paths+=("$p")
    else
      backup_log "'$p' is not in $archive (absent when the backup ran): left as it is"
    fi
  done
fi

# 3. What the volume holds already: replaced only with RESTORE_OVERWRITE=yes.
existing=()
if [[ -e $live || -L $live ]]; then existing+=("$SQLITE_DB ($(stat -c '%s bytes, modified %y' -- "$live"))"); fi
for p in "${paths[@]}"; do
  if [[ -e $SQLITE_DATA_DIR/$p || -L $SQLITE_DATA_DIR/$p ]]; then existing+=("$p"); fi
done
if ((${#existing[@]})) && ((!overwrite)); then
  for e in "${existing[@]}"; do backup_log "would replace: $e"; done
  backup_die "$SQLITE_DATA_DIR already holds the data above; a restore would replace it. Stop the writer ($(writer_hint 0)) and set RESTORE_OVERWRITE=yes (backup-policy restore --yes): the old files are renamed *.$aside, never deleted"
fi

# 4. The database under a work name beside the live one, synced and checked.
live_dir=$(dirname -- "$live")
mkdir -p -- "$live_dir" || backup_die "cannot create $live_dir"
backup_tmpfile "$live_dir" "$(basename -- "$live")" || backup_die "cannot write into $live_dir as uid $(id -u)"
db_tmp=$BACKUP_TMP
cat -- "$src" >"$db_tmp" || backup_die "cannot copy $copy into the volume"
if [[ -e $live ]]; then chmod --reference="$live" -- "$db_tmp"; else chmod 0640 -- "$db_tmp"; fi
sync -- "$db_tmp" || backup_die "cannot sync the restored database"
backup_sqlite_integrity "$db_tmp" || backup_die "the restored database fails integrity_check"

# Rows per table, listed, and compared with the manifest when there is one. Names are SQL
# identifiers in double quotes (quotes doubled) and reach sqlite3 on stdin, never a shell word.
sql_count() { sqlite3 -bail "$(backup_sqlite_uri "$db_tmp")" <<<"SELECT count(*) FROM \"${1//\"/\"\"}\";"; }
# Table names come out hex-encoded (one per line, whatever they contain) and are decoded here.
declare -A rows=()
while IFS= read -r hex; do
  # shellcheck disable=SC2001 # every byte pair becomes \xHH: a regex replacement, beyond ${var//}
  t=$(printf '%b' "$(sed 's/../\\x&/g' <<<"$hex")")
  rows[$t]=$(sql_count "$t") || backup_die "cannot count the rows of table '$t'"
  backup_log "table '$t': ${rows[$t]} rows"
done < <(sqlite3 -bail "$(backup_sqlite_uri "$db_tmp")" "SELECT hex(name) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name;")
db_manifest=$src.manifest.json
if [[ -f $db_manifest ]] && jq -e '.databases.main.tables | type == "object"' -- "$db_manifest" >/dev/null; then
  mismatches=0
  while IFS= read -r -d '' t && IFS= read -r -d '' n; do
    if [[ -z ${rows[$t]+set} ]]; then
      backup_log "ERROR: table '$t': in the manifest ($n rows), missing from the restored database"
      mismatches=$((mismatches + 1))
    elif [[ ${rows[$t]} != "$n" ]]; then
      backup_log "ERROR: table '$t': expected $n rows (manifest), got ${rows[$t]}"
      mismatches=$((mismatches + 1))
    fi
  done < <(jq -j '.databases.main.tables | to_entries[] | .key, "\u0000", (.value | tostring), "\u0000"' -- "$db_manifest")
  want_tables=$(jq -r '.databases.main.tables | length' -- "$db_manifest")
  if ((want_tables != ${#rows[@]})); then
    backup_log "ERROR: the manifest lists $want_tables tables, the restored database has ${#rows[@]}"
    mismatches=$((mismatches + 1))
  fi
  ((mismatches == 0)) || backup_die "the restored database differs from the manifest of $copy"
  backup_log "every table's rows match the manifest"
fi

# 5. The extra files, unpacked into a work directory in the volume and checked there.
if ((${#paths[@]})); then
  backup_tmpdir "$SQLITE_DATA_DIR" files || backup_die "cannot write into $SQLITE_DATA_DIR as uid $(id -u)"
  unpacked=$BACKUP_TMP
  # Ownership from the archive cannot be set without CAP_CHOWN: the files belong to the job's
  # user, which is the application's (the backup had to read them as that user).
  zstd -dcq -- "$BACKUP_DIR/$archive" | tar -xf - -C "$unpacked" --no-same-owner -- "${paths[@]}" ||
    backup_die "cannot unpack $archive"
  files_manifest=''
  for m in "$BACKUP_DIR/$archive.manifest.json" "$db_manifest"; do
    if [[ -f $m ]] && jq -e '.files | type == "object"' -- "$m" >/dev/null; then
      files_manifest=$m
      break
    fi
  done
  count=0
  total=0
  mismatches=0
  while IFS= read -r -d '' f; do
    size=$(stat -c %s -- "$unpacked/$f")
    count=$((count + 1))
    total=$((total + size))
    if [[ -n $files_manifest ]]; then
      want=$(jq -j --arg f "$f" '.files[$f] | if . == null then "" else "\(.bytes) \(.blake2b)" end' -- "$files_manifest")
      digest=$(b2sum <"$unpacked/$f")
      if [[ -z $want ]]; then
        backup_log "ERROR: '$f' is in $archive but not in its manifest"
        mismatches=$((mismatches + 1))
      elif [[ $want != "$size ${digest%% *}" ]]; then
        backup_log "ERROR: '$f': expected ${want%% *} bytes and the manifest's digest, got $size bytes$([[ ${want#* } == "${digest%% *}" ]] || printf ', another digest')"
        mismatches=$((mismatches + 1))
      fi
    fi
  done < <(find "$unpacked" -type f -printf '%P\0' | sort -z)
  if [[ -n $files_manifest ]]; then
    want_count=$(jq -r '.files | length' -- "$files_manifest")
    if ((want_count != count)); then
      backup_log "ERROR: the manifest lists $want_count files, $archive holds $count"
      mismatches=$((mismatches + 1))
    fi
    ((mismatches == 0)) || backup_die "the files of $archive differ from their manifest"
    backup_log "every file matches the manifest (size and BLAKE2b)"
  fi
  backup_log "unpacked $count files ($total bytes) of ${paths[*]}"
fi

# 6. Into place: what is replaced is renamed aside first, then each new path renamed in.
if [[ -e $live || -L $live ]]; then
  mv -T -- "$live" "$live.$aside" || backup_die "cannot move the live database aside"
  backup_log "kept the old $SQLITE_DB as $SQLITE_DB.$aside"
  # Its hot journal belongs to it, and would be rolled back into the restored database.
  if [[ -e $live-journal ]]; then mv -T -- "$live-journal" "$live.$aside-journal" || backup_die "cannot move the old -journal aside"; fi
fi
# An empty -wal and a -shm describe the old database, not this one.
rm -f -- "$live-wal" "$live-shm" || backup_die "cannot remove the stale $SQLITE_DB-wal / -shm"
mv -T -- "$db_tmp" "$live" || backup_die "cannot rename the restored database into place"
backup_untrack "$db_tmp"
backup_add_size "$(stat -c %s -- "$live")"
backup_log "restored $copy as $SQLITE_DB"
for p in "${paths[@]}"; do
  target=$SQLITE_DATA_DIR/$p
  if [[ -e $target || -L $target ]]; then
    mv -T -- "$target" "$target.$aside" || backup_die "cannot move '$p' aside"
    backup_log "kept the old '$p' as '$p.$aside'"
  fi
  mkdir -p -- "$(dirname -- "$target")" || backup_die "cannot create the folder of '$p'"
  mv -T -- "$unpacked/$p" "$target" || backup_die "cannot rename '$p' into place"
  backup_log "restored '$p'"
done
sync -- "$live_dir" "$SQLITE_DATA_DIR" || backup_die "cannot sync $SQLITE_DATA_DIR"
backup_log "next: start the writer again ($(writer_hint 1))"
