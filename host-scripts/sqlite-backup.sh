#!/usr/bin/env bash
# SQLite backup of an application's data volume: a consistent copy of the live database
# (db_<ts>.sqlite3) plus a tarball of the files that belong with it (files_<ts>.tar.zst).
# Interface: CONTRACT.md.
#
# Why VACUUM INTO and not `.backup`: the online backup API restarts from scratch whenever another
# connection writes, so under a busy writer it can run for a very long time, and it copies a
# corrupt database page by page without complaint. VACUUM INTO reads one snapshot inside a single
# read transaction, is not restarted by writers, and fails on corruption.
#
# Why `file:...?mode=ro` works on a live WAL database: a read-only connection still uses the
# -wal and -shm files (SQLite >= 3.22 even when it cannot write the -shm), so it sees every
# committed transaction, including those not yet checkpointed into the main file. mode=ro also
# makes a missing database an error instead of silently creating an empty one.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"
# shellcheck source=sqlite-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sqlite-lib.sh"

backup_init sqlite snapshot
backup_require_env SQLITE_DATA_DIR SQLITE_DB

[[ -d $SQLITE_DATA_DIR ]] || backup_die "SQLITE_DATA_DIR $SQLITE_DATA_DIR is not a directory"
live=$(backup_sqlite_path "$SQLITE_DB") || backup_die "invalid SQLITE_DB"

# Extra paths: the required ones must exist (a missing attachments directory is a broken
# deployment, not an empty backup); the optional ones are taken when present.
paths=()
read -r -a required <<<"${SQLITE_EXTRA_PATHS:-}"
read -r -a optional <<<"${SQLITE_OPTIONAL_EXTRA_PATHS:-}"
normalize() {
  local p=$1
  while [[ $p == ./* ]]; do p=${p#./}; done
  while [[ $p == */ && $p != / ]]; do p=${p%/}; done
  printf '%s' "$p"
}
for p in "${required[@]}"; do
  backup_sqlite_path "$p" >/dev/null || backup_die "invalid SQLITE_EXTRA_PATHS"
  p=$(normalize "$p")
  [[ -n $p && -e $SQLITE_DATA_DIR/$p ]] || backup_die "required extra path '$p' does not exist in $SQLITE_DATA_DIR"
  paths+=("$p")
done
for p in "${optional[@]}"; do
  backup_sqlite_path "$p" >/dev/null || backup_die "invalid SQLITE_OPTIONAL_EXTRA_PATHS"
  p=$(normalize "$p")
  if [[ -n $p && -e $SQLITE_DATA_DIR/$p ]]; then
    paths+=("$p")
  else
    backup_log "optional extra path '$p' is absent; skipped"
  fi
done

backup_log "integrity_check of the live database $live"
backup_sqlite_integrity "$live" || backup_die "the live database is not healthy; not copying it"

db_prefix=db_
db_suffix=.sqlite3
backup_tmpfile "$BACKUP_DIR" "$db_prefix$BACKUP_TS$db_suffix"
db_tmp=$BACKUP_TMP
# VACUUM INTO writes a rollback journal beside its target; a full disk leaves it behind.
backup_track "$db_tmp-journal"
backup_log "VACUUM INTO a copy"
# VACUUM INTO needs the target to be absent or empty; mktemp made it empty. SQL string literal:
# single quotes doubled.
backup_run sqlite3 -bail -cmd '.timeout 30000' "$(backup_sqlite_uri "$live")" "VACUUM INTO '${db_tmp//\'/\'\'}';" ||
  backup_die "VACUUM INTO failed"
backup_sqlite_integrity "$db_tmp" || backup_die "the copy fails integrity_check"
backup_manifest_stage "$db_tmp" || exit 1
# A table the copy cannot count (a virtual table whose module the image lacks) costs the manifest,
# not the copy.
backup_sqlite_counts "$db_tmp" >"$BACKUP_MANIFEST_SECTIONS" ||
  backup_manifest_skip "$db_tmp" "cannot count the rows of the copy for its manifest"

files_prefix=files_
files_suffix=.tar.zst
tar_to() { tar -C "$SQLITE_DATA_DIR" -cf - -- "${paths[@]}" | zstd -T0 -q >"$1"; }
if ((${#paths[@]})); then
  backup_tmpfile "$BACKUP_DIR" "$files_prefix$BACKUP_TS$files_suffix"
  files_tmp=$BACKUP_TMP
  backup_log "tar of ${paths[*]}"
  # GNU tar exits 1 when a file changed while it was read: the run fails rather than publish a
  # torn file, and the next run tries again.
  backup_run tar_to "$files_tmp" || backup_die "tar of the extra paths failed"
  backup_check_zstd "$files_tmp"
  backup_tmpfile "$TMPDIR" files-listing
  listing=$BACKUP_TMP
  backup_manifest_stage "$files_tmp" || exit 1
  files_sections=$BACKUP_MANIFEST_SECTIONS
  backup_tmpfile "$TMPDIR" files-digests
  digests=$BACKUP_TMP
  # One read of the archive lists it (-v) and hands each regular file to a command (sh -c, with
  # tar's TAR_FILENAME and TAR_SIZE) that appends its name, size and BLAKE2b to the manifest's
  # records, NUL-separated: a name may hold any character but NUL. Nothing is written to disk.
  # shellcheck disable=SC2016 # expanded by the sh that tar runs for each file
  digest_cmd='d=$(b2sum) && printf "%s\0%s\0%s\0" "$TAR_FILENAME" "$TAR_SIZE" "${d%% *}" >>"$DIGESTS"'
  zstd -dcq -- "$files_tmp" | DIGESTS=$digests tar -xvf - --to-command="$digest_cmd" >"$listing" ||
    backup_die "tar cannot read the archive"
  jq -R -s 'rtrimstr("\u0000") | split("\u0000") as $f
    | {files: (reduce range(0; $f | length; 3) as $i ({}; .[$f[$i]] = {bytes: ($f[$i + 1] | tonumber), blake2b: $f[$i + 2]}))}' \
    <"$digests" >"$files_sections" || backup_die "cannot make the manifest of the files archive"
  backup_discard "$digests"
  for p in "${paths[@]}"; do
    grep -qxF -e "$p" -e "$p/" -- "$listing" || backup_die "'$p' is missing from the archive listing"
  done
  backup_discard "$listing"
else
  backup_log "no extra paths configured or present; no files archive"
fi

# Both copies are verified before either is published. (If the size check rejects the second,
# the first stays published and the run fails.)
backup_commit "$db_tmp" "$BACKUP_DIR" "$db_prefix" "$db_suffix"
if ((${#paths[@]})); then
  backup_commit "$files_tmp" "$BACKUP_DIR" "$files_prefix" "$files_suffix"
fi
backup_retention "$BACKUP_DIR" "$db_prefix" "$db_suffix"
backup_retention "$BACKUP_DIR" "$files_prefix" "$files_suffix"
