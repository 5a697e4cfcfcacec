#!/usr/bin/env bash
# Restores from daily-backup's copies on the backup disk (BACKUP_DISK), run by hand as root on the
# Proxmox host. Interface: CONTRACT.md, "Host restores". Settings come from host.env.
#
#   host-restore files --week YYYY-WW|latest --pvc NAMESPACE/PVC [--path PATH] --to DIR [--yes]
#       copies pvc-data/<week>/<namespace>/<pvc>/[PATH] into DIR/[PATH] (DIR is the PVC's root)
#   host-restore sqlite --db NAMESPACE/PVC/PATH [--copy latest|sqlite_<ts>.sqlite3] --to FILE [--yes]
#       puts a checked SQLite copy from sqlite-backup/<namespace>/<pvc>/<path>/ in place of FILE
#   host-restore list --pvc NAMESPACE/PVC | --db NAMESPACE/PVC/PATH
#       the weeks holding that PVC, or the SQLite copies of that database
#
# Without --yes nothing existing is replaced: the restore lists what it would replace and stops.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/backup-lib.sh"
# shellcheck source=host-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/host-lib.sh"
# shellcheck source=sqlite-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/sqlite-lib.sh"

usage() {
  sed -n '5,13p' "$(readlink -f "${BASH_SOURCE[0]}")" | sed 's/^# \{0,1\}//' >&2
  exit 64
}

# The same copy options as daily-backup's pvc-data step (-a: modes, owners, times, symlinks as
# links, devices; -H: hard links; numeric ids, because the owners are the containers' uids, not the
# host's users). A symlink is always copied as a link, never followed.
RSYNC_COPY=(-aH --numeric-ids)
WEEK_PATTERN='^([0-9]{4})-W?([0-9]{2})$'
COPY_PATTERN='^sqlite_[0-9]{8}T[0-9]{6}Z\.sqlite3$'
# How many lines of "would replace" a refusal shows before summing up the rest.
SHOW_MAX=50

# q TEXT: TEXT as one shell word, for log lines (a name with a newline or an escape sequence must
# neither split a log line nor reach the terminal raw).
q() {
  printf '%q' "$1"
}

die_usage() {
  printf 'host-restore: %s\n' "$*" >&2
  exit 64
}

# --- arguments ------------------------------------------------------------------------------------

SUBCOMMAND=${1:-}
case $SUBCOMMAND in
  files | sqlite | list) shift ;;
  *) usage ;;
esac
WEEK='' PVC='' REL='' TO='' DB='' COPY=latest YES=0
HAVE_PATH=0
while (($#)); do
  case $1 in
    --yes) YES=1 ;;
    --week | --pvc | --path | --to | --db | --copy)
      # A value may start with a dash (a file named "-x"): it is whatever follows the option.
      (($# >= 2)) || die_usage "$1 needs a value"
      case $1 in
        --week) WEEK=$2 ;;
        --pvc) PVC=$2 ;;
        --path) REL=$2 HAVE_PATH=1 ;;
        --to) TO=$2 ;;
        --db) DB=$2 ;;
        --copy) COPY=$2 ;;
      esac
      shift
      ;;
    *) die_usage "unknown argument $(q "$1")" ;;
  esac
  shift
done

# A namespace, a PVC name or an LV name (volumes the cluster does not know are kept under
# _unmapped/<lv>): one path component, never '.', '..' or hidden.
NAME_PATTERN='^[A-Za-z0-9_][A-Za-z0-9_.+-]*$'

check_pvc() {
  local ns=${PVC%%/*} pvc=${PVC#*/}
  [[ $PVC == */* && $ns =~ $NAME_PATTERN && $pvc =~ $NAME_PATTERN ]] ||
    die_usage "--pvc must be NAMESPACE/PVC as in pvc-data/<week>/ (got $(q "$PVC"))"
}

# normalize_relative TEXT OPTION: TEXT without empty and '.' components; refuses absolute paths and
# '..' (the path must stay inside the copy it names). Sets NORMALIZED.
normalize_relative() {
  local text=$1 option=$2 part
  local -a parts out=()
  [[ -n $text ]] || die_usage "$option must not be empty"
  [[ $text != /* ]] || die_usage "$option must be relative (got $(q "$text"))"
  IFS=/ read -r -d '' -a parts < <(printf '%s\0' "$text") || true
  for part in "${parts[@]}"; do
    case $part in
      '' | .) ;;
      ..) die_usage "$option must not contain '..' (got $(q "$text"))" ;;
      *) out+=("$part") ;;
    esac
  done
  ((${#out[@]})) || die_usage "$option names no file (got $(q "$text"))"
  # Joined without a command substitution, which would drop a name's trailing newlines.
  printf -v NORMALIZED '%s/' "${out[@]}"
  NORMALIZED=${NORMALIZED%/}
}

case $SUBCOMMAND in
  files)
    [[ -n $WEEK && -n $PVC && -n $TO ]] || usage
    [[ $WEEK == latest || $WEEK =~ $WEEK_PATTERN ]] || die_usage "--week must be YYYY-WW (or YYYY-Www) or latest (got $(q "$WEEK"))"
    if [[ $WEEK != latest ]]; then WEEK="${BASH_REMATCH[1]}-${BASH_REMATCH[2]}"; fi
    check_pvc
    if ((HAVE_PATH)); then
      normalize_relative "$REL" --path
      REL=$NORMALIZED
    fi
    ;;
  sqlite)
    [[ -n $DB && -n $TO ]] || usage
    [[ $COPY == latest || $COPY =~ $COPY_PATTERN ]] || die_usage "--copy must be latest or a copy's name, sqlite_<YYYYmmddTHHMMSSZ>.sqlite3 (got $(q "$COPY"))"
    [[ $TO != */ ]] || die_usage "--to must name the database file, not a directory (got $(q "$TO"))"
    ;;
  list)
    [[ -n $PVC || -n $DB ]] || usage
    [[ -z $PVC || -z $DB ]] || die_usage "list takes --pvc or --db, not both"
    if [[ -n $PVC ]]; then check_pvc; fi
    ;;
esac

BACKUP_DISK=${BACKUP_DISK:-}
host_load_config
host_require BACKUP_DISK

# sqlite_dir_of DB: the folder of DB's copies, relative to sqlite-backup/ (DB as daily-backup names
# it: <namespace>/<pvc>/<path in the volume>; an absolute path under sqlite-backup/ works too).
# Sets NORMALIZED.
sqlite_dir_of() {
  local db=$1
  if [[ $db == "$BACKUP_DISK/sqlite-backup/"* ]]; then db=${db#"$BACKUP_DISK/sqlite-backup/"}; fi
  normalize_relative "$db" --db
  [[ $NORMALIZED == */*/* ]] || die_usage "--db must be NAMESPACE/PVC/PATH as in sqlite-backup/ (got $(q "$1"))"
  case /$NORMALIZED/ in
    */.tmp.* | */.scratch/*) die_usage "--db names a work folder of daily-backup, not a database (got $(q "$1"))" ;;
  esac
}

# --- the backup disk --------------------------------------------------------------------------------

# no_symlink_below BASE REL: no component of BASE/REL is a symlink (the last one may be, when
# LAST_MAY_LINK=1: rsync then copies the link itself). A link in the backup points wherever the
# tenant wanted (`data -> /etc`): following one would restore a file of the host.
no_symlink_below() {
  local base=$1 rel=$2 last_may_link=${3:-0} path=$1 part
  local -a parts
  IFS=/ read -r -d '' -a parts < <(printf '%s\0' "$rel") || true
  local i n=${#parts[@]}
  for ((i = 0; i < n; i++)); do
    part=${parts[i]}
    path+="/$part"
    if [[ -L $path ]] && ! ((last_may_link && i == n - 1)); then
      backup_log "ERROR: $(q "${path#"$base"/}") is a symlink in the backup; not following it"
      return 1
    fi
  done
}

# outside_backup_disk PATH WHAT: PATH (resolved) neither lies inside the backup disk nor contains
# it: a restore must never write into the copies it restores from.
outside_backup_disk() {
  local resolved disk
  resolved=$(realpath -m -- "$1") || backup_die "cannot resolve $(q "$1")"
  disk=$(realpath -e -- "$BACKUP_DISK") || backup_die "cannot resolve $BACKUP_DISK"
  if [[ $resolved == "$disk" || $resolved == "$disk"/* ]]; then
    backup_die "$2 $(q "$1") is on the backup disk $disk; restore somewhere else"
  fi
  if [[ $disk == "$resolved"/* || $resolved == / ]]; then
    backup_die "$2 $(q "$1") contains the backup disk $disk; restore into a folder of its own"
  fi
  RESOLVED=$resolved
}

# week_dirs: the ISO-week folders of pvc-data, newest first (YYYY-WW sorts as text).
week_dirs() {
  local d
  for d in "$BACKUP_DISK/pvc-data"/*/; do
    d=${d%/}
    d=${d##*/}
    if [[ $d =~ ^[0-9]{4}-[0-9]{2}$ ]]; then printf '%s\n' "$d"; fi
  done | sort -r
}

# sqlite_copies DIR: the verified copies in DIR (exactly sqlite_<ts>.sqlite3, regular files), oldest
# first. Work files (.tmp.*) and refused copies (*.rejected) never match.
sqlite_copies() {
  local path name
  for path in "$1"/sqlite_*.sqlite3; do
    name=${path##*/}
    [[ -f $path && ! -L $path && $name =~ $COPY_PATTERN ]] || continue
    printf '%s\n' "$name"
  done
}

start_restore() {
  local engine=$1 mode=$2
  export BACKUP_SERVICE=daily-backup BACKUP_ENGINE=$engine BACKUP_RUNNER=host BACKUP_DIR=$BACKUP_DISK
  export TMPDIR=${TMPDIR:-/tmp}
  backup_restore_init "$engine" "$mode"
  # Owners and modes are restored as the backup holds them, which only root can do; and the
  # daily-backup lock below lives in root's state directory.
  (($(id -u) == 0)) || backup_die "run host-restore as root on the Proxmox host"
  mountpoint -q -- "$BACKUP_DISK" || backup_die "$BACKUP_DISK is not a mount point (the backup disk is not mounted)"
  # daily-backup replaces a PVC's copy, prunes old weeks and old SQLite copies: holding its lock, a
  # restore reads a copy that cannot change or vanish under it. (The backup waits for the restore
  # in turn: a run that finds the lock taken exits with status 75.)
  local lock="$HOST_STATE_DIR/locks/daily-backup.lock"
  if [[ -e $lock ]] && ! flock -n "$lock" true; then
    backup_log "a daily-backup run is in progress; waiting for it to finish (at most ${RESTORE_LOCK_WAIT_SECONDS:-3600} s)"
  fi
  host_job_lock_wait daily-backup "${RESTORE_LOCK_WAIT_SECONDS:-3600}"
}

# rsync_total STATS_FILE: "Total file size" from rsync --stats.
rsync_total() {
  local line
  line=$(grep -m1 '^Total file size:' -- "$1") || {
    printf 0
    return 0
  }
  line=${line#*: }
  line=${line%% *}
  printf '%s' "${line//,/}"
}

# show_list FILE WHAT: the first SHOW_MAX lines of FILE (rsync's itemized lines, names escaped by
# rsync itself as \#ooo), indented, then how many more.
show_list() {
  local n
  n=$(wc -l <"$1")
  sed -n "1,${SHOW_MAX}p" -- "$1" | sed 's/^/  /' >&2
  if ((n > SHOW_MAX)); then printf '  ... and %d more\n' $((n - SHOW_MAX)) >&2; fi
}

# --- files ----------------------------------------------------------------------------------------

cmd_files() {
  local ns=${PVC%%/*} pvc=${PVC#*/} week root dest changes stats verify w n
  local -a src relative=()
  start_restore rsync files

  if [[ $WEEK == latest ]]; then
    week=''
    while read -r w; do
      if [[ -n $w && -d $BACKUP_DISK/pvc-data/$w/$ns/$pvc && ! -L $BACKUP_DISK/pvc-data/$w/$ns/$pvc ]]; then
        week=$w
        break
      fi
    done < <(week_dirs)
    [[ -n $week ]] || backup_die "no week in $BACKUP_DISK/pvc-data holds $ns/$pvc (list them: host-restore list --pvc $ns/$pvc)"
  else
    week=$WEEK
  fi
  no_symlink_below "$BACKUP_DISK" "pvc-data/$week/$ns/$pvc" || backup_die "refusing to read through a symlink"
  root="$BACKUP_DISK/pvc-data/$week/$ns/$pvc"
  [[ -d $root ]] || backup_die "week $week holds no copy of $ns/$pvc (list them: host-restore list --pvc $ns/$pvc)"

  outside_backup_disk "$TO" --to
  dest=$RESOLVED
  if [[ -e $dest && ! -d $dest ]]; then backup_die "--to $(q "$TO") exists and is not a directory"; fi
  if [[ -n $REL ]]; then
    no_symlink_below "$root" "$REL" 1 || backup_die "refusing to restore through a symlink of the backup"
    [[ -e $root/$REL || -L $root/$REL ]] || backup_die "$(q "$REL") is not in the copy of $ns/$pvc of week $week"
    # -R keeps the path: <root>/./a/b lands as DIR/a/b, missing folders made with the backup's modes.
    relative=(-R)
    src=("$root/./$REL")
  else
    src=("$root/")
  fi
  backup_log "restoring $ns/$pvc${REL:+ path $(q "$REL")} from week $week into $(q "$dest")"

  # What exists in DIR and would change: --existing skips everything new, so each line is a file
  # replaced, changed, or of another type now (a folder where the backup has a file). A folder that
  # only gets the backup's time or mode is not counted. --checksum here and in the copy: a file
  # changed in place keeps its size and can keep its time, and rsync's quick check would take it
  # for the backup's own and leave it.
  backup_tmpfile "$TMPDIR" would-replace || exit 1
  changes=$BACKUP_TMP
  if [[ -d $dest ]]; then
    rsync "${RSYNC_COPY[@]}" "${relative[@]}" --checksum -n --existing --out-format='%i %n%L' -- "${src[@]}" "$dest/" >"$changes" ||
      backup_die "the dry run against $(q "$dest") failed"
    grep -v '^\.d' -- "$changes" >"$changes.keep" || true
    mv -f -- "$changes.keep" "$changes"
  else
    : >"$changes"
  fi
  n=$(wc -l <"$changes")
  backup_metric backup_restore_replaced_files "$n"
  if ((n > 0)); then
    if ((!YES)); then
      backup_log "$n existing files in $(q "$dest") would be replaced (rsync's itemized changes):"
      show_list "$changes"
      backup_die "refusing to replace existing files without --yes; nothing changed"
    fi
    backup_log "replacing $n existing files (--yes):"
    show_list "$changes"
  fi

  mkdir -p -- "$dest" || backup_die "cannot create $(q "$dest")"
  backup_tmpfile "$TMPDIR" rsync-stats || exit 1
  stats=$BACKUP_TMP
  host_run rsync "${RSYNC_COPY[@]}" "${relative[@]}" --checksum --stats -- "${src[@]}" "$dest/" >"$stats" || backup_die "rsync into $(q "$dest") failed"
  backup_add_size "$(rsync_total "$stats")"
  sync -f -- "$dest" || backup_die "cannot sync $(q "$dest")"

  # The restored tree read back against the copy: every file's content (--checksum), mode, owner,
  # time, link target and hard link. Any line is a difference.
  backup_tmpfile "$TMPDIR" verify || exit 1
  verify=$BACKUP_TMP
  host_run rsync "${RSYNC_COPY[@]}" "${relative[@]}" --checksum -n --out-format='%i %n%L' -- "${src[@]}" "$dest/" >"$verify" ||
    backup_die "the verification of $(q "$dest") could not run"
  if [[ -s $verify ]]; then
    backup_log "ERROR: the restored files differ from the copy:"
    show_list "$verify"
    backup_die "verification failed"
  fi
  backup_log "restored $ns/$pvc${REL:+ path $(q "$REL")} from week $week into $(q "$dest"); verified against the copy (checksums)"
}

# --- sqlite ---------------------------------------------------------------------------------------

# manifest_check COPY RESTORED: when the backup wrote COPY.manifest.json, the copy's bytes and
# digest and the restored database's row counts must be what it says. (A copy without one, older or
# from a run that crashed before writing it, stays restorable.)
manifest_check() {
  local copy=$1 db=$2 manifest="$1.manifest.json" expected got sql bad
  [[ -f $manifest && ! -L $manifest ]] || {
    backup_log "no manifest beside the copy; checked by integrity_check only"
    return 0
  }
  command -v jq >/dev/null || {
    backup_log "WARNING: jq is not installed; the manifest beside the copy is not compared"
    return 0
  }
  expected=$(jq -r '.bytes' -- "$manifest") || backup_die "cannot read $(q "$manifest")"
  got=$(stat -c %s -- "$copy")
  [[ $expected == "$got" ]] || backup_die "the copy has $got bytes, its manifest says $expected"
  expected=$(jq -r '.blake2b // empty' -- "$manifest") || backup_die "cannot read $(q "$manifest")"
  if [[ $expected =~ ^[0-9a-f]+$ ]]; then
    got=$(b2sum -l $((${#expected} * 4)) <"$copy") || backup_die "cannot hash the copy"
    got=${got%% *}
    [[ $got == "$expected" ]] || backup_die "the copy's BLAKE2b digest is $got, its manifest says $expected"
  fi
  # Row counts of every table the manifest lists, in one statement built by jq: table names go
  # into SQL only through jq's quoting (identifiers in "", the key as a '' literal).
  sql=$(jq -r '
    (.databases.main.tables // {}) | keys
    | if length == 0 then empty else
        "SELECT json_group_object(n, c) FROM ("
        + (map("SELECT '\''" + gsub("'\''"; "'\'''\''") + "'\'' AS n, (SELECT count(*) FROM \"" + gsub("\""; "\"\"") + "\") AS c") | join(" UNION ALL "))
        + ");"
      end' -- "$manifest") || backup_die "cannot read the tables of $(q "$manifest")"
  [[ -n $sql ]] || return 0
  got=$(sqlite3 -bail "$(backup_sqlite_uri "$db")" "$sql") || backup_die "cannot count the rows of the restored database"
  bad=$(jq -rn --argjson got "$got" --slurpfile m "$manifest" '
    $m[0].databases.main.tables | to_entries[]
    | select($got[.key] != .value)
    | "table \(.key | @json): expected \(.value) rows, got \($got[.key] // "no table")"') ||
    backup_die "cannot compare the row counts"
  [[ -z $bad ]] || {
    backup_log "ERROR: the restored database does not match the copy's manifest:"
    printf '  %s\n' "$bad" >&2
    backup_die "row counts differ from the manifest"
  }
  backup_log "row counts match the manifest"
}

cmd_sqlite() {
  local dir copy_path target parent base tmp existing=() suffix aside wal=0 f
  sqlite_dir_of "$DB"
  dir=$NORMALIZED
  start_restore sqlite sqlite

  no_symlink_below "$BACKUP_DISK" "sqlite-backup/$dir" || backup_die "refusing to read through a symlink"
  [[ -d $BACKUP_DISK/sqlite-backup/$dir ]] || backup_die "no copies of $(q "$dir") in $BACKUP_DISK/sqlite-backup (list them: host-restore list --db <namespace>/<pvc>/<path>)"
  if [[ $COPY == latest ]]; then
    COPY=$(sqlite_copies "$BACKUP_DISK/sqlite-backup/$dir" | tail -n 1)
    [[ -n $COPY ]] || backup_die "no copy sqlite_<timestamp>.sqlite3 in $(q "$BACKUP_DISK/sqlite-backup/$dir")"
  fi
  copy_path="$BACKUP_DISK/sqlite-backup/$dir/$COPY"
  [[ -f $copy_path && ! -L $copy_path ]] || backup_die "$(q "$COPY") is not a copy in $(q "$BACKUP_DISK/sqlite-backup/$dir")"
  backup_log "restoring $(q "$dir") from $COPY into $(q "$TO")"
  backup_sqlite_integrity "$copy_path" || backup_die "the copy $COPY fails integrity_check; pick an older one (host-restore list --db $(q "$dir"))"

  # The folder is resolved, the file name is not: a symlink there (a tenant's volume may hold
  # `db.sqlite3 -> /etc/shadow`) must not redirect the restore.
  base=${TO##*/}
  [[ -n $base && $base != . && $base != .. ]] || die_usage "--to must name the database file (got $(q "$TO"))"
  if [[ $TO == */* ]]; then parent=${TO%/*}; else parent=.; fi
  outside_backup_disk "${parent:-/}" "the folder of --to"
  parent=$RESOLVED
  target="${parent%/}/$base"
  outside_backup_disk "$target" --to
  [[ ! -L $target ]] || backup_die "--to $(q "$target") is a symlink; not following it (remove it or name the file it points to)"
  [[ ! -d $target ]] || backup_die "--to $(q "$target") is a directory; name the database file"
  for suffix in '' -wal -shm -journal; do
    if [[ -e $target$suffix || -L $target$suffix ]]; then existing+=("$target$suffix"); fi
  done
  if ((${#existing[@]})) && ((!YES)); then
    backup_log "these files would be replaced (the database and its journal files):"
    for f in "${existing[@]}"; do printf '  %s\n' "$(q "$f")" >&2; done
    backup_die "refusing to replace an existing database without --yes; nothing changed"
  fi

  mkdir -p -- "$parent" || backup_die "cannot create $(q "$parent")"
  # The new file is written beside the target (same filesystem: the rename is atomic), checked
  # there, then renamed over it: the application never sees a half-written database.
  backup_tmpfile "$parent" "$base" || exit 1
  tmp=$BACKUP_TMP
  backup_track "$tmp-wal"
  backup_track "$tmp-shm"
  backup_track "$tmp-journal"
  cat -- "$copy_path" >"$tmp" || backup_die "cannot copy $COPY to $(q "$parent")"
  backup_sqlite_integrity "$tmp" || backup_die "the restored file fails integrity_check"
  manifest_check "$copy_path" "$tmp"
  backup_add_size "$(stat -c %s -- "$tmp")"

  # Owner and mode: the replaced database's, or for a new one the folder's owner with 0640, so
  # that the application (not root) can open it. A WAL database stays in WAL mode: VACUUM INTO,
  # which made the copy, writes rollback-journal mode (header bytes 18-19 are 2 in WAL mode).
  if [[ -f $target ]]; then
    if ! chown --reference="$target" -- "$tmp" || ! chmod --reference="$target" -- "$tmp"; then
      backup_die "cannot give the restored file the owner and mode of $(q "$target")"
    fi
    if [[ $(od -An -tu1 -j18 -N1 -- "$target" | tr -d ' ') == 2 ]]; then wal=1; fi
  elif ! chown --reference="$parent" -- "$tmp" || ! chmod 0640 -- "$tmp"; then
    backup_die "cannot set the owner and mode of the restored file"
  fi
  if ((wal)); then
    # Read-write, so that closing checkpoints and removes the -wal/-shm this makes. (A read-only
    # open of a WAL database leaves them behind, owned by root: the application could not open them.)
    [[ $(sqlite3 -bail "$tmp" 'PRAGMA journal_mode=WAL;' 'PRAGMA integrity_check;') == $'wal\nok' ]] ||
      backup_die "cannot put the restored database in WAL mode, or it fails integrity_check there"
    [[ ! -e $tmp-wal && ! -e $tmp-shm ]] || backup_die "sqlite3 left a -wal or -shm beside the restored file"
  fi
  sync -- "$tmp" || backup_die "cannot sync the restored file"

  # The replaced database stays beside it as <name>.replaced-<ts> (with its -wal/-shm renamed
  # alike, so it still opens with every commit it had) until someone removes it. A -wal or -shm
  # left beside the new file would be applied to it by SQLite: a corrupt database.
  aside="$target.replaced-$BACKUP_TS"
  if [[ -e $target ]]; then
    ln -- "$target" "$aside" 2>/dev/null || cp -a -- "$target" "$aside" || backup_die "cannot keep the replaced database as $(q "$aside")"
  fi
  for suffix in -wal -shm -journal; do
    if [[ -e $target$suffix || -L $target$suffix ]]; then
      mv -f -- "$target$suffix" "$aside$suffix" || backup_die "cannot move $(q "$target$suffix") aside"
    fi
  done
  mv -fT -- "$tmp" "$target" || backup_die "cannot rename the restored file to $(q "$target")"
  backup_untrack "$tmp"
  sync -f -- "$parent" || backup_log "WARNING: cannot sync $(q "$parent")"
  if [[ -e $aside ]]; then backup_log "the replaced database is kept as $(q "$aside") (remove it once the restore is verified)"; fi
  # Not opened again here: it was checked under its work name, and any open now would leave a
  # -wal/-shm of root's beside it.
  backup_log "restored $(q "$dir") from $COPY into $(q "$target"); integrity_check ok"
}

# --- list -----------------------------------------------------------------------------------------

cmd_list() {
  local w dir name found=0
  local -a weeks
  if [[ -n $PVC ]]; then
    mapfile -t weeks < <(week_dirs)
    printf 'weeks holding %s in %s/pvc-data (newest first):\n' "$PVC" "$BACKUP_DISK"
    for w in "${weeks[@]}"; do
      if [[ -d $BACKUP_DISK/pvc-data/$w/$PVC && ! -L $BACKUP_DISK/pvc-data/$w/$PVC ]]; then
        printf '  %s\n' "$w"
        found=1
      fi
    done
    if ((!found)); then
      if ((${#weeks[@]})); then
        printf '  none; namespaces of week %s: ' "${weeks[0]}" >&2
        (cd -- "$BACKUP_DISK/pvc-data/${weeks[0]}" && ls -m) >&2
      else
        printf '  none; no week at all\n' >&2
      fi
      exit 1
    fi
    return 0
  fi
  sqlite_dir_of "$DB"
  dir=$NORMALIZED
  [[ -d $BACKUP_DISK/sqlite-backup/$dir ]] || die_usage "no copies of $(q "$dir") in $BACKUP_DISK/sqlite-backup"
  printf 'copies of %s (oldest first):\n' "$(q "$dir")"
  while read -r name; do
    [[ -n $name ]] && printf '  %s\n' "$name"
  done < <(sqlite_copies "$BACKUP_DISK/sqlite-backup/$dir")
}

case $SUBCOMMAND in
  files) cmd_files ;;
  sqlite) cmd_sqlite ;;
  list) cmd_list ;;
esac
