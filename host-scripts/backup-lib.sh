# shellcheck shell=bash
# Shared library of the backup job scripts (interface: CONTRACT.md next to this file).
# Sourced by every job script; defines functions and sets no traps until backup_init runs.
# Names with a double underscore (backup__*, BACKUP__*) are this file's internals: other scripts
# use only the public API documented in CONTRACT.md (a test enforces it).
#
# Error handling style: every function reports failure through its return status and logs why.
# None relies on `set -e` inside, because bash silently disables errexit in any function called
# from an `if`, `||` or `&&` context, and the per-database loops call their workers exactly that way.

# An xtrace line would print the values of the secrets that are in scope (PGPASSWORD, VAULT_TOKEN).
set +o xtrace
# Globs, sort order and the decimal point of EPOCHREALTIME must not depend on the image's locale.
export LC_ALL=C
# Backups hold password hashes and whole databases: only the job's user may read them.
umask 077

BACKUP_TS=''            # UTC timestamp of this run, shared by every file it writes
BACKUP_TMP=''           # path made by the last backup_tmpfile / backup_tmpdir call
BACKUP__START=''        # epoch seconds at start (the attempt timestamp)
BACKUP__START_REAL=''   # same, fractional, for the duration
BACKUP__SIZE_BYTES=0    # bytes written under backup (or .rejected) names by this run
BACKUP__TMP_PATHS=()    # work in progress, removed by the EXIT trap whatever happens
BACKUP__EXTRA_METRICS=() # "name value" pairs pushed with the common ones
BACKUP__LOCK_FD=''
BACKUP__CHILD=''        # the command backup_run is waiting for
BACKUP__SERIES=()       # filled by backup__series
BACKUP__EXIT_HOOKS=()   # functions the EXIT trap calls with the exit status (backup_on_exit)
BACKUP__LATE_FAILURES=() # why the run fails once it has published what it verified
BACKUP__USES_VOLUME=1   # 0: a job that writes no files (backup_init_without_volume)

backup_log() {
  printf '%s [%s/%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "${BACKUP_SERVICE:-unknown}" "${BACKUP_KIND:-unknown}" "$*" >&2
}

backup_die() {
  backup_log "ERROR: $*"
  exit 1
}

# backup_require_env VAR...: each must be set and non-empty (values are never printed).
backup_require_env() {
  local name
  for name in "$@"; do
    [[ -n ${!name:-} ]] || backup_die "environment variable $name is not set"
  done
}

backup__now_real() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then printf '%s' "$EPOCHREALTIME"; else date +%s; fi
}

# backup_init ENGINE KIND...: checks the common environment, arms the EXIT trap that cleans up and
# pushes metrics, and takes the per-kind lock. KIND... lists the kinds this script implements.
backup_init() {
  local engine=$1 kind
  shift
  BACKUP__START=$(date +%s)
  BACKUP__START_REAL=$(backup__now_real)
  BACKUP_TS=$(date -u -d "@$BACKUP__START" +%Y%m%dT%H%M%SZ)

  # The label values go into the Pushgateway URL path and the exposition format unescaped, so they
  # are restricted to what both accept verbatim. Without them nothing can be reported: fail loudly.
  local label
  for label in BACKUP_SERVICE BACKUP_KIND BACKUP_ENGINE BACKUP_RUNNER; do
    [[ ${!label:-} =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] ||
      backup_die "$label must be set to [A-Za-z0-9][A-Za-z0-9_.-]* (got '${!label:-}')"
  done
  [[ $BACKUP_ENGINE == "$engine" ]] ||
    backup_die "BACKUP_ENGINE is '$BACKUP_ENGINE' but this script backs up '$engine'"
  local known=0
  for kind in "$@"; do [[ $BACKUP_KIND == "$kind" ]] && known=1; done
  ((known)) || backup_die "BACKUP_KIND '$BACKUP_KIND' is not one of: $*"
  [[ $BACKUP_RUNNER == cronjob || $BACKUP_RUNNER == host ]] ||
    backup_die "BACKUP_RUNNER must be cronjob or host (got '$BACKUP_RUNNER')"

  # From here on every exit, including validation failures below, is reported to the Pushgateway.
  trap backup__on_exit EXIT
  # Without these a SIGTERM (pod deletion, activeDeadlineSeconds) would kill bash without running
  # the EXIT trap: temp files would stay and the failure would never be pushed.
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 143' TERM

  [[ -n ${TMPDIR:-} && -d $TMPDIR && -w $TMPDIR ]] || backup_die "TMPDIR must be a writable directory"
  if ((!BACKUP__USES_VOLUME)); then
    backup_log "starting $BACKUP_ENGINE $BACKUP_KIND (writes no backup files; the backup volume is not used)"
    return 0
  fi
  # BACKUP_DIR is never created here: on a host whose NFS mount failed, mkdir would quietly put
  # the backups on the local disk instead.
  [[ -n ${BACKUP_DIR:-} && -d $BACKUP_DIR && -w $BACKUP_DIR ]] ||
    backup_die "BACKUP_DIR must be an existing writable directory (got '${BACKUP_DIR:-}')"
  backup__check_retention_env || exit 1
  [[ ${BACKUP_MIN_SIZE_RATIO:-} =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
    backup_die "BACKUP_MIN_SIZE_RATIO must be a decimal number such as 0.5 (0 disables the check)"

  local lock="$BACKUP_DIR/.lock-$BACKUP_KIND" earlier_run=0
  if [[ -e $lock ]]; then earlier_run=1; fi
  exec {BACKUP__LOCK_FD}>>"$lock" || backup_die "cannot open lock file $lock"
  # A second run must not start while one is in progress: it would race the first one's size
  # check and retention. It fails, and is reported, because an overlap means a hung or slow job.
  flock -n "$BACKUP__LOCK_FD" || backup_die "another $BACKUP_KIND run holds $lock"
  if ((earlier_run)); then backup__after_previous_run "$lock"; fi
  # The lock file's time is this run's start, for the next run's check above.
  touch -d "@$BACKUP__START" -- "$lock" || backup_log "WARNING: cannot set the time of $lock"
  backup_log "starting $BACKUP_ENGINE $BACKUP_KIND backup (run $BACKUP_TS)"
  backup__remove_stale_work
}

# backup__after_previous_run LOCK: two runs of a kind in the same second would give their copies
# the same name, and the second run's commit would refuse to replace the first's verified copy. The
# lock file's time is the start of the kind's previous run: a run that starts in that same second
# waits for the next one. Names stay unique and keep the YYYYmmddTHHMMSSZ form that sorting,
# retention and restores parse. The wait is bounded: a clock behind the previous run's (another
# node's) by more than a second is only logged, and the commit then refuses a name already taken.
backup__after_previous_run() {
  local previous now i
  previous=$(stat -c %Y -- "$1") || return 0
  now=$(date +%s)
  for ((i = 0; i < 12 && now <= previous; i++)); do
    sleep 0.1
    now=$(date +%s)
  done
  if ((now <= previous)); then
    backup_log "WARNING: the previous $BACKUP_KIND run started at $(date -u -d "@$previous" +%Y%m%dT%H%M%SZ), not before this one (is this clock behind?)"
  fi
  BACKUP__START=$now
  BACKUP_TS=$(date -u -d "@$BACKUP__START" +%Y%m%dT%H%M%SZ)
}

# backup__remove_stale_work: work files of an earlier run of this kind that was killed (SIGKILL,
# a lost node, the kubelet's grace period) before its EXIT trap ran. Nothing else would ever remove
# them, and the offsite sync would copy them. Work names carry the kind (backup_tmpfile), and this
# run holds the kind's lock, so none of them belongs to a live run. Depth 3 reaches
# per-db/<db>/.tmp.*; a matching directory is removed whole, never searched.
backup__remove_stale_work() {
  local path removed=0
  while IFS= read -r -d '' path; do
    if rm -rf -- "$path"; then
      removed=$((removed + 1))
      backup_log "removed ${path#"$BACKUP_DIR"/}, work left by an earlier $BACKUP_KIND run that was killed"
    else
      backup_log "WARNING: cannot remove $path, work left by an earlier run"
    fi
  done < <(find "$BACKUP_DIR" -mindepth 1 -maxdepth 3 -name ".tmp.$BACKUP_KIND.*" -prune -print0 2>/dev/null)
  backup_metric backup_stale_work_removed "$removed"
}

# backup_start_epoch: prints the run's start (epoch seconds, the attempt timestamp; BACKUP_TS is
# the same moment in UTC).
backup_start_epoch() {
  printf '%s\n' "$BACKUP__START"
}

# backup_on_exit FUNCTION: the EXIT trap calls FUNCTION STATUS after stopping the running step and
# before removing the work files and pushing the metrics, in registration order. Host jobs use it
# to unmount what they mounted (a mount must be gone before its directory can be removed).
backup_on_exit() {
  BACKUP__EXIT_HOOKS+=("$1")
}

# backup_init_without_volume ENGINE KIND...: backup_init for a job that writes no files (the SQLite
# integrity check). BACKUP_DIR is neither checked nor locked: a backup volume that is read-only or
# missing must not stop the check, or the integrity gauge would keep its last value and the alert
# could not fire.
backup_init_without_volume() {
  BACKUP__USES_VOLUME=0
  backup_init "$@"
}

backup__check_retention_env() {
  if ! [[ ${BACKUP_KEEP_LAST:-} =~ ^[0-9]+$ ]] || ((10#$BACKUP_KEEP_LAST < 1)); then
    # Zero would let retention delete the newest copy.
    backup_log "ERROR: BACKUP_KEEP_LAST must be an integer >= 1 (got '${BACKUP_KEEP_LAST:-}')"
    return 1
  fi
  if ! [[ ${BACKUP_KEEP_WITHIN_SECONDS:-} =~ ^[0-9]+$ ]]; then
    backup_log "ERROR: BACKUP_KEEP_WITHIN_SECONDS must be an integer >= 0 (got '${BACKUP_KEEP_WITHIN_SECONDS:-}')"
    return 1
  fi
}

# backup_run CMD [ARG...]: runs CMD (a command, or a function holding a whole pipeline) in the
# background and waits for it; returns its status. Used for every step that talks to a server and
# can hang. bash runs a signal trap only after the foreground command has finished, and Kubernetes
# signals only PID 1 (this shell) when a Job hits activeDeadlineSeconds or its pod is deleted: a
# hung dump run in the foreground would be SIGKILLed after the grace period with its temp file
# left on the volume and no failure reported. `wait` returns at once on a trapped signal, so the
# EXIT trap runs: it stops the command, removes the work files and pushes the failure.
backup_run() {
  local rc=0
  "$@" &
  BACKUP__CHILD=$!
  wait "$BACKUP__CHILD" || rc=$?
  BACKUP__CHILD=''
  return "$rc"
}

# backup__kill_tree PID: SIGTERM to PID and all its descendants (a pipeline runs in a subshell
# whose children would otherwise outlive it).
backup__kill_tree() {
  local pid=$1 children='' child f
  for f in /proc/"$pid"/task/*/children; do
    if [[ -r $f ]]; then children+=" $(<"$f")"; fi
  done
  kill -TERM "$pid" 2>/dev/null || true
  for child in $children; do
    backup__kill_tree "$child"
  done
}

# backup_fail_at_end MESSAGE...: something is missing from this run's copies (a database the tools
# skip): the run goes on and publishes what it verified, then fails with MESSAGE, and no retention
# runs. Call it from the main shell, not inside backup_run.
backup_fail_at_end() {
  backup_log "ERROR: $*"
  BACKUP__LATE_FAILURES+=("$*")
}

# backup__no_late_failure: fails (logging why) when backup_fail_at_end was called; checked before
# retention, because the copies just published are incomplete.
backup__no_late_failure() {
  ((${#BACKUP__LATE_FAILURES[@]} == 0)) && return 0
  backup_log "ERROR: not applying retention: the copies of this run are incomplete"
  return 1
}

# backup_excluded_database NAME: NAME is one of the lines of BACKUP_EXCLUDE_DATABASES, the databases
# the policy leaves out of every backup on purpose.
backup_excluded_database() {
  local line
  [[ -n ${BACKUP_EXCLUDE_DATABASES:-} ]] || return 1
  while IFS= read -r line; do
    [[ -n $line && $line == "$1" ]] && return 0
  done <<<"$BACKUP_EXCLUDE_DATABASES"
  return 1
}

# backup_add_size BYTES: counts bytes into backup_last_size_bytes (backup_commit does it for files).
backup_add_size() {
  BACKUP__SIZE_BYTES=$((BACKUP__SIZE_BYTES + $1))
}

# backup_metric NAME VALUE: an extra gauge pushed with the common ones (backup_integrity_ok).
backup_metric() {
  BACKUP__EXTRA_METRICS+=("$1 $2")
}

# backup_tmpfile DIR NAME: creates a hidden work file for NAME in DIR (same filesystem as the final
# name, so the rename is atomic) and sets BACKUP_TMP. Retention and size checks never see it. The
# name, .tmp.<kind>.NAME.XXXXXX, tells the next run of the kind what a killed run left behind.
backup_tmpfile() {
  BACKUP_TMP=$(mktemp -- "$1/.tmp.$BACKUP_KIND.$2.XXXXXX") || {
    backup_log "ERROR: cannot create a temporary file in $1"
    return 1
  }
  BACKUP__TMP_PATHS+=("$BACKUP_TMP")
}

# backup_track PATH: a file some tool creates beside a work file (SQLite's -journal of VACUUM
# INTO) is removed with this run's work files, whatever happens.
backup_track() {
  BACKUP__TMP_PATHS+=("$1")
}

# backup_tmpdir PARENT NAME: like backup_tmpfile, for a scratch directory.
backup_tmpdir() {
  BACKUP_TMP=$(mktemp -d -- "$1/.tmp.$BACKUP_KIND.$2.XXXXXX") || {
    backup_log "ERROR: cannot create a temporary directory in $1"
    return 1
  }
  BACKUP__TMP_PATHS+=("$BACKUP_TMP")
}

# backup__discard_all: removes all of this run's work files.
backup__discard_all() {
  local p
  for p in "${BACKUP__TMP_PATHS[@]}"; do
    if [[ -e $p || -L $p ]]; then rm -rf -- "$p"; fi
    # backup_zstd_write's digest of the work file, when the run stopped before verifying it.
    rm -f -- "$TMPDIR/$BACKUP__DIGEST_PREFIX${p##*/}"
  done
  BACKUP__TMP_PATHS=()
}

# backup_discard PATH: removes one work file or directory of this run now (a failed database's
# partial dump should not occupy the backup volume while the remaining databases are dumped).
# Only paths this run created are touched.
backup_discard() {
  local p
  [[ -n $1 ]] || return 0
  for p in "${BACKUP__TMP_PATHS[@]}"; do
    if [[ $p == "$1" ]]; then
      rm -rf -- "$p"
      rm -f -- "$TMPDIR/$BACKUP__DIGEST_PREFIX${p##*/}"
      backup__forget_tmp "$p"
      return 0
    fi
  done
}

# backup_untrack PATH: a work path this run has moved to its final name itself (a directory
# replaced as a whole): the EXIT trap must no longer remove anything at PATH.
backup_untrack() {
  backup__forget_tmp "$1"
}

backup__forget_tmp() {
  local p keep=()
  for p in "${BACKUP__TMP_PATHS[@]}"; do
    [[ $p == "$1" ]] || keep+=("$p")
  done
  BACKUP__TMP_PATHS=("${keep[@]}")
}

# backup_safe_name NAME: NAME can become one path component (database names are user input).
backup_safe_name() {
  if [[ -z $1 || $1 == . || $1 == .. || $1 == */* || $1 == *$'\n'* ]]; then
    backup_log "ERROR: '$1' cannot be used as a directory name"
    return 1
  fi
}

# backup__series DIR PREFIX SUFFIX: sets BACKUP__SERIES to the names (not paths) in DIR that are
# exactly PREFIX + YYYYmmddTHHMMSSZ + SUFFIX, oldest first. Temp files (.tmp.*), rejected copies
# (*.rejected), symlinks and anything else never match.
backup__series() {
  local dir=$1 prefix=$2 suffix=$3 path name ts
  BACKUP__SERIES=()
  for path in "$dir/$prefix"*"$suffix"; do
    [[ -f $path && ! -L $path ]] || continue
    name=${path##*/}
    [[ $name == "$prefix"*"$suffix" ]] || continue
    ts=${name#"$prefix"}
    ts=${ts%"$suffix"}
    [[ $ts =~ ^[0-9]{8}T[0-9]{6}Z$ ]] || continue
    [[ $name == "$prefix$ts$suffix" ]] || continue
    BACKUP__SERIES+=("$name")
  done
  # Every member has the same fixed-width shape, so the C-locale glob order is timestamp order.
}

# backup_commit TMP DIR PREFIX SUFFIX: publishes a verified work file as DIR/PREFIX<ts>SUFFIX.
# Refuses a copy much smaller than the newest one already in the series: it becomes
# NAME.rejected (kept for an operator; renaming it to NAME accepts it) and the call fails.
backup_commit() {
  local tmp=$1 dir=$2 prefix=$3 suffix=$4
  local name="$prefix$BACKUP_TS$suffix" size prev prev_size
  local final="$dir/$name"
  size=$(stat -c %s -- "$tmp") || return 1
  if [[ -e $final ]]; then
    backup_log "ERROR: $final already exists; not overwriting a verified copy"
    return 1
  fi
  # Data first, then the name: after a crash a backup name never points at missing blocks.
  sync -- "$tmp" || {
    backup_log "ERROR: sync of $tmp failed"
    return 1
  }

  backup__series "$dir" "$prefix" "$suffix"
  if ((${#BACKUP__SERIES[@]})) && [[ $BACKUP_MIN_SIZE_RATIO =~ [1-9] ]]; then
    prev=${BACKUP__SERIES[-1]}
    prev_size=$(stat -c %s -- "$dir/$prev") || return 1
    if awk -v n="$size" -v p="$prev_size" -v r="$BACKUP_MIN_SIZE_RATIO" 'BEGIN { exit !(n < r * p) }'; then
      mv -T -- "$tmp" "$final.rejected" || return 1
      backup__forget_tmp "$tmp"
      sync -- "$dir" || true
      BACKUP__SIZE_BYTES=$((BACKUP__SIZE_BYTES + size))
      # The refused copy keeps its manifest (named after it, so that nothing takes it for the
      # manifest of a published copy): whoever accepts it renames both.
      if backup__write_manifest "$tmp" "$final.rejected" "$name"; then
        backup_log "ERROR: $name is $size bytes, less than $BACKUP_MIN_SIZE_RATIO x $prev ($prev_size bytes);" \
          "kept as $name.rejected (rename it to $name and $name.rejected.manifest.json to $name.manifest.json to accept it)"
      else
        backup_log "ERROR: $name is $size bytes, less than $BACKUP_MIN_SIZE_RATIO x $prev ($prev_size bytes);" \
          "kept as $name.rejected (rename it to $name to accept it; its manifest could not be written)"
      fi
      return 1
    fi
  fi

  mv -T -- "$tmp" "$final" || {
    backup_log "ERROR: cannot rename $tmp to $final"
    return 1
  }
  backup__forget_tmp "$tmp"
  sync -- "$dir" || {
    backup_log "ERROR: sync of directory $dir failed"
    return 1
  }
  BACKUP__SIZE_BYTES=$((BACKUP__SIZE_BYTES + size))
  backup_log "wrote $final ($size bytes)"
  backup__publish_manifest "$tmp" "$final" "$name"
}

# backup_retention DIR PREFIX SUFFIX: keeps the newest BACKUP_KEEP_LAST copies of the series whatever
# their age, and of the older ones deletes those whose name's timestamp is more than
# BACKUP_KEEP_WITHIN_SECONDS in the past. Call it only after the whole run succeeded: the copies it
# keeps are the last verified ones, which an age-only rule would rotate out while new dumps fail.
backup_retention() {
  local dir=$1 prefix=$2 suffix=$3 cutoff name ts i n deleted=0
  backup__check_retention_env || return 1
  backup__series "$dir" "$prefix" "$suffix"
  n=${#BACKUP__SERIES[@]}
  cutoff=$(date -u -d "@$(($(date +%s) - 10#$BACKUP_KEEP_WITHIN_SECONDS))" +%Y%m%dT%H%M%SZ) || return 1
  for ((i = 0; i < n - 10#$BACKUP_KEEP_LAST; i++)); do
    name=${BACKUP__SERIES[i]}
    ts=${name#"$prefix"}
    ts=${ts%"$suffix"}
    # Same fixed-width UTC format on both sides: string order is time order.
    if [[ $ts < $cutoff ]]; then
      # The copy first: a crash in between leaves an orphan manifest, which nothing reads as a copy.
      rm -f -- "${dir:?}/$name" || return 1
      backup__remove_manifest "$dir/$name" || return 1
      backup_log "retention: deleted $dir/$name"
      deleted=1
    fi
  done
  backup__remove_orphan_manifests "$dir" "$prefix" "$suffix" "$cutoff" || deleted=1
  if ((deleted)); then sync -- "$dir" || true; fi
}

# backup__remove_orphan_manifests DIR PREFIX SUFFIX CUTOFF: manifests of the series whose copy is
# gone (a crash between the two deletions, an operator's rm) and older than CUTOFF. Status 1 when
# one was deleted. A refused copy's manifest (NAME.rejected.manifest.json) is never one of them.
backup__remove_orphan_manifests() {
  local dir=$1 prefix=$2 suffix=$3 cutoff=$4 path name ts removed=0
  for path in "$dir/$prefix"*"$suffix.manifest.json"; do
    [[ -f $path && ! -L $path ]] || continue
    name=${path##*/}
    name=${name%.manifest.json}
    ts=${name#"$prefix"}
    ts=${ts%"$suffix"}
    [[ $ts =~ ^[0-9]{8}T[0-9]{6}Z$ && $name == "$prefix$ts$suffix" && ! -e $dir/$name && $ts < $cutoff ]] || continue
    rm -f -- "$path" || continue
    backup_log "retention: deleted $path, the manifest of a copy that no longer exists"
    removed=1
  done
  return $((!removed))
}

# backup_check_zstd FILE: the frame decodes and its checksum matches.
backup_check_zstd() {
  zstd -q -t -- "$1" || {
    backup_log "ERROR: zstd -t failed for $1"
    return 1
  }
}

# Compression of the dump jobs. Level 4, not zstd's default 3: on text-heavy dumps level 3 came out
# slightly larger than the spec's gzip -9 (137.4 vs 136.9 MB of a 451 MB pg_dumpall), level 4 1.2%
# smaller for about 10% more CPU, still about 15x less CPU than gzip -9 (bench/results.md).
# -T0: the compressor's workers use whichever core the server leaves idle.
BACKUP_ZSTD_OPTIONS=(-q -T0 -4)

# producer | backup_zstd_write FILE: compresses the stream into FILE and, in the same pass (tee),
# writes the BLAKE2b digest of exactly the bytes written to FILE into TMPDIR/.digest.<FILE's name>,
# for backup_verify_zstd: in the job's own scratch space, not on the backup volume, so a killed run
# leaves nothing there but its work file; the work-file cleanup removes it with FILE. BLAKE2b (b2sum,
# coreutils) rather than sha256: as strong, and a third of sha256sum's CPU here, on two cores the
# job shares with the server.
# --check: the frame carries a checksum of the uncompressed stream, so the read-back proves the
# decompressed bytes too, not only the compressed ones.
backup_zstd_write() {
  local -
  set -o pipefail
  zstd "${BACKUP_ZSTD_OPTIONS[@]}" --check -c | tee -- "$1" | b2sum >"$TMPDIR/$BACKUP__DIGEST_PREFIX${1##*/}"
}

BACKUP__DIGEST_PREFIX=.digest.

# backup_verify_zstd FILE CHECKER...: reads FILE back once and, from that one read, checks that its
# digest is the one backup_zstd_write recorded (every byte on the target is what was written), that
# the frame decodes with a matching content checksum (zstd -d), and that CHECKER accepts the
# decompressed stream on its stdin (the dump's completion marker, pg_restore's table of contents).
# A checker that stops reading early must drain the rest (backup_drain); its stdout is discarded.
# (Separate checks decompressed each copy twice, and a per-database PostgreSQL copy three times.)
backup_verify_zstd() {
  local file=$1 digest=$TMPDIR/$BACKUP__DIGEST_PREFIX${1##*/} written read_back rc=0
  shift
  written=$(cat -- "$digest" 2>/dev/null) || written=''
  rm -f -- "$digest"
  if [[ ! $written =~ ^[0-9a-f]{128}\  ]]; then
    backup_log "ERROR: no digest was recorded while $file was written"
    return 1
  fi
  # tee sends the file to b2sum (the command substitution's output, through fd 4) and, through
  # fd 3, to zstd and the checker: one read of the target for all three checks.
  read_back=$(
    set -o pipefail
    { { tee -- /dev/fd/3 <"$file" | b2sum >&4; } 3>&1 | zstd -dcq | "$@" >/dev/null; } 4>&1
  ) || rc=$?
  if ((rc != 0)); then
    backup_log "ERROR: $file does not decode into a complete dump (zstd or '$1' failed, status $rc)"
    return 1
  fi
  if [[ $read_back != "$written" ]]; then
    backup_log "ERROR: $file read back differs from what was written (BLAKE2b ${read_back:0:16}... != ${written:0:16}...)"
    return 1
  fi
}

# producer | backup_expect_trailer TEXT: the stream's last lines contain TEXT, the line pg_dumpall
# and mysqldump print only after the last object was written.
backup_expect_trailer() {
  local tail_text
  tail_text=$(tail -n 5) || return 1
  [[ $tail_text == *"$1"* ]] || {
    backup_log "ERROR: the dump does not end with '$1' (truncated or failed dump)"
    return 1
  }
}

# producer | backup_drain COMMAND...: runs COMMAND on the stream, then reads the rest of it.
# Checkers such as `pg_restore --list` stop reading early; the producer would then die of SIGPIPE
# and pipefail would fail a good backup.
backup_drain() {
  local rc=0
  "$@" || rc=$?
  cat >/dev/null
  return "$rc"
}

# --- Backup manifests (CONTRACT.md, "Manifest") ----------------------------------------------
# Every copy-keeping job writes <copy>.manifest.json beside each copy it publishes: what restoring
# that copy yields (rows per table, keys, ...), its size and BLAKE2b digest, so that restores and
# drills can tell a copy that restores but lost rows from a good one. Counts come from the copy's
# own bytes (the verification read), never from the server, which may have moved on since.

# -g: the library may be sourced inside a function (tests do), and these must stay global.
declare -gA BACKUP__MANIFEST_SECTIONS=() # work file -> its sections file (JSON object or empty)
declare -gA BACKUP__MANIFEST_DIGEST=()   # work file -> BLAKE2b recorded while it was written
BACKUP_MANIFEST_SECTIONS=''             # the sections file of the last backup_manifest_stage

# backup_manifest_stage TMP: the work file TMP gets a manifest when backup_commit publishes it.
# Sets BACKUP_MANIFEST_SECTIONS to an empty file in TMPDIR into which the job's verification writes
# the manifest's engine sections as one JSON object ({"databases": ...}, {"redis": ...}); left
# empty, the manifest has only the common fields (Vault). Call it before verifying: the digest
# backup_zstd_write recorded is taken here, and the verification proves the copy has it.
backup_manifest_stage() {
  local tmp=$1 digest=$TMPDIR/$BACKUP__DIGEST_PREFIX${1##*/} recorded=''
  backup_tmpfile "$TMPDIR" "sections.${tmp##*/}" || return 1
  BACKUP_MANIFEST_SECTIONS=$BACKUP_TMP
  BACKUP__MANIFEST_SECTIONS[$tmp]=$BACKUP_MANIFEST_SECTIONS
  if [[ -f $digest ]]; then recorded=$(cat -- "$digest") || recorded=''; fi
  if [[ $recorded =~ ^([0-9a-f]{128})\  ]]; then BACKUP__MANIFEST_DIGEST[$tmp]=${BASH_REMATCH[1]}; fi
  return 0
}

# backup_manifest_skip TMP REASON...: TMP is published without a manifest (its verification
# passed, only its counts could not be made): the run goes on, then fails with REASON, without
# retention. Call it from the main shell.
backup_manifest_skip() {
  local tmp=$1
  shift
  BACKUP__MANIFEST_SECTIONS[$tmp]=''
  backup_fail_at_end "$* (the copy is published without a manifest)"
}

# producer | backup_manifest_count_records > JSON: turns the NUL-separated records of a counter
# into the "databases" section: `D db` (a database in the copy), `T db table rows`, `L db n`
# (PostgreSQL large objects), each record four fields (unused ones empty). jq reads the names,
# never the shell: spaces, quotes, '=', newlines and non-ASCII pass unchanged. (Every record ends
# with a non-empty field, so the final NUL can be trimmed before splitting: jq 1.6 drops a trailing
# empty field, 1.7 keeps it.)
backup_manifest_count_records() {
  jq -R -s '
    rtrimstr("\u0000") | split("\u0000") as $f
    | if ($f | length) % 4 != 0 then error("malformed count records") else . end
    | reduce range(0; $f | length; 4) as $i ({};
        $f[$i] as $k | $f[$i + 1] as $db | $f[$i + 2] as $t | $f[$i + 3] as $n
        | .[$db].tables //= {}
        | if $k == "D" then .
          elif $k == "T" then .[$db].tables[$t] = ((.[$db].tables[$t] // 0) + ($n | tonumber))
          elif $k == "L" then .[$db].largeObjects = ((.[$db].largeObjects // 0) + ($n | tonumber))
          else error("unknown count record \($k)") end)
    | {databases: .}'
}

# backup_manifest_path COPY_PATH: prints the manifest's path for a copy; status 0 when it exists
# (a copy from before manifests, or one whose manifest failed, has none and stays restorable).
backup_manifest_path() {
  printf '%s.manifest.json\n' "$1"
  [[ -f $1.manifest.json ]]
}

# backup_manifest_compare MANIFEST ACTUAL_JSON: compares what a restore yielded with the manifest.
# ACTUAL_JSON (JSON text, or a file holding it) has the manifest's shape for the sections it
# checks ("databases", "redis", "etcd", "files"); only the sections present in it are compared,
# each whole, so a database or table missing on either side is a mismatch. Prints one line per
# mismatch (names JSON-quoted, expected then got) and returns 1 if there is any; 2 when either
# document cannot be read.
backup_manifest_compare() {
  local manifest=$1 actual=$2 out
  local -a source
  if [[ -f $actual ]]; then source=(--slurpfile a "$actual"); else source=(--argjson a "[$actual]"); fi
  out=$(jq -r "${source[@]}" '
    def where($p):
      if $p[0] == "databases" then
        "database \($p[1] | tojson)" + (if ($p | length) < 3 then ""
          elif $p[2] == "tables" then (if ($p | length) > 3 then " table \($p[3] | tojson) rows" else " tables" end)
          elif $p[2] == "largeObjects" then " large objects" else " \($p[2:] | map(tostring) | join("."))" end)
      elif $p[0] == "redis" and $p[1] == "databases" then "redis db \($p[2]) keys"
      elif $p[0] == "files" then "file \($p[1] | tojson)" + (if ($p | length) > 2 then " \($p[2])" else "" end)
      else $p | map(tostring) | join(".") end;
    def shown: if . == null then "missing" else tojson end;
    def leaves: [paths(type != "object" or length == 0)];
    . as $m | ($a | if length == 1 and (.[0] | type) == "object" then .[0] else error("ACTUAL_JSON is not one JSON object") end) as $g
    | if ($m | type) != "object" or $m.format != 1 then error("not a format 1 backup manifest") else . end
    | [$g | keys[] | select(. == "databases" or . == "redis" or . == "etcd" or . == "files")] as $sections
    | if ($sections | length) == 0 then error("ACTUAL_JSON has none of the sections databases, redis, etcd, files") else . end
    | ($m | {} + with_entries(select(.key | IN($sections[])))) as $e
    | ($g | with_entries(select(.key | IN($sections[])))) as $r
    | (($e | leaves) + ($r | leaves) | unique)[] as $p
    | ($e | getpath($p)) as $want | ($r | getpath($p)) as $got
    | select($want != $got and (($want | type) != "object" or ($got | type) != "object"))
    | "\(where($p)): expected \($want | shown), got \($got | shown)"' -- "$manifest") || {
    backup_log "ERROR: cannot compare $actual with the manifest $manifest"
    return 2
  }
  [[ -z $out ]] && return 0
  printf '%s\n' "$out"
  return 1
}

# backup__write_manifest TMP COPY NAME: writes COPY.manifest.json for the copy just published (or
# refused) from the work file TMP, if TMP was staged. NAME is the copy's name in the series. Work
# file + sync + rename + directory sync, like the copy: a manifest is whole or absent.
backup__write_manifest() {
  local tmp=$1 copy=$2 name=$3 sections digest bytes created out dir work
  [[ -n ${BACKUP__MANIFEST_SECTIONS[$tmp]:-} ]] || return 0
  sections=${BACKUP__MANIFEST_SECTIONS[$tmp]}
  digest=${BACKUP__MANIFEST_DIGEST[$tmp]:-}
  # Entries are keyed by mktemp names, never reused; emptied rather than unset, because unset with
  # a subscript re-parses a path that may hold ']' (database names are user input).
  BACKUP__MANIFEST_SECTIONS[$tmp]=''
  out=$copy.manifest.json
  dir=${copy%/*}
  bytes=$(stat -c %s -- "$copy") || return 1
  # A copy not written by backup_zstd_write (an RDB, a snapshot, an SQLite file) is read once
  # more here; small next to the dumps.
  if [[ -z $digest ]]; then
    digest=$(b2sum <"$copy") || return 1
    digest=${digest%% *}
  fi
  [[ $digest =~ ^[0-9a-f]{128}$ ]] || return 1
  created="${BACKUP_TS:0:4}-${BACKUP_TS:4:2}-${BACKUP_TS:6:2}T${BACKUP_TS:9:2}:${BACKUP_TS:11:2}:${BACKUP_TS:13:2}Z"
  backup_tmpfile "$dir" "${out##*/}" || return 1
  work=$BACKUP_TMP
  if ! jq -n --arg service "$BACKUP_SERVICE" --arg engine "$BACKUP_ENGINE" --arg kind "$BACKUP_KIND" \
    --arg copy "$name" --arg createdAt "$created" --argjson bytes "$bytes" --arg blake2b "$digest" \
    --slurpfile sections "$sections" '
    if ($sections | length) > 1 or (($sections[0] // {}) | type) != "object" then error("the sections are not one JSON object") else . end
    | {format: 1, service: $service, engine: $engine, kind: $kind, copy: $copy, createdAt: $createdAt,
       bytes: $bytes, blake2b: $blake2b} + ($sections[0] // {})' >"$work" ||
    ! sync -- "$work" || ! mv -T -- "$work" "$out"; then
    backup_discard "$work"
    return 1
  fi
  backup__forget_tmp "$work"
  backup_discard "$sections"
  sync -- "$dir" || return 1
  backup_log "wrote ${out##*/}"
}

# backup__publish_manifest TMP COPY NAME: backup__write_manifest, where a failure fails the run
# loudly (no retention) but leaves the published copy alone: a copy without a manifest is still a
# good copy, only an unchecked one.
backup__publish_manifest() {
  backup__write_manifest "$@" && return 0
  backup_fail_at_end "cannot write the manifest of $2 (the copy itself is published and verified)"
}

# backup__remove_manifest COPY_PATH: the manifest goes with its copy.
backup__remove_manifest() {
  [[ -e $1.manifest.json ]] || return 0
  rm -f -- "$1.manifest.json"
}

# --- the shared flows: each engine script supplies only its dump and verify functions ------------

# backup_one_copy PREFIX SUFFIX TOOL DUMP VERIFY: the whole job of an engine that writes one copy,
# BACKUP_DIR/PREFIX<ts>SUFFIX. `DUMP FILE` writes it (through backup_run, so a signal stops it),
# `VERIFY FILE` checks it with the engine's own tool and logs why it fails; then the copy is
# published and, the run having succeeded, retention runs. TOOL names the dump in the log. Exits
# (through the EXIT trap) on any failure.
backup_one_copy() {
  local prefix=$1 suffix=$2 tool=$3 dump=$4 verify=$5
  backup_tmpfile "$BACKUP_DIR" "$prefix$BACKUP_TS$suffix" || exit 1
  backup_run "$dump" "$BACKUP_TMP" || backup_die "$tool failed"
  local copy=$BACKUP_TMP
  backup_manifest_stage "$copy" || exit 1
  BACKUP_TMP=$copy
  "$verify" "$BACKUP_TMP" || exit 1
  backup_commit "$BACKUP_TMP" "$BACKUP_DIR" "$prefix" "$suffix" || exit 1
  backup__no_late_failure || exit 1
  backup_retention "$BACKUP_DIR" "$prefix" "$suffix" || exit 1
}

# backup_each_database PREFIX SUFFIX TOOL LIST DUMP VERIFY: one copy per database,
# BACKUP_DIR/per-db/<db>/PREFIX<ts>SUFFIX. `LIST FILE` writes the names of the databases to back
# up into FILE, each followed by a NUL (a name may hold spaces or newlines); BACKUP_DATABASES
# (space-separated) replaces it when set. Names listed in BACKUP_EXCLUDE_DATABASES are skipped.
# `DUMP DB FILE` and `VERIFY FILE DB` as above.
# Every database is attempted even after one failed: one broken database must not cost the others
# their copy. The run then fails, naming the failed ones; the good copies stay published. Retention
# runs only when every database succeeded, and only in the directories of the databases dumped.
backup_each_database() {
  local prefix=$1 suffix=$2 tool=$3 list=$4 dump=$5 verify=$6 db
  # Not "ok"/"failed": shellcheck follows this file into the job scripts, whose scalars of
  # those names would then look like arrays.
  local -a dbs_dumped=() dbs_failed=()
  [[ ${BACKUP_DROPPED_KEEP_SECONDS:-} =~ ^[0-9]*$ ]] ||
    backup_die "BACKUP_DROPPED_KEEP_SECONDS must be an integer >= 0 (0 or unset keeps the copies of dropped databases for ever)"
  backup__list_databases "$list" || exit 1
  # An explicit list says nothing about the databases it leaves out.
  if [[ -z ${BACKUP_DATABASES:-} ]]; then backup__find_dropped "$prefix" "$suffix"; fi
  for db in "${BACKUP__DATABASES[@]}"; do
    # Reset so that a failure before the work file exists discards nothing of another database's.
    BACKUP_TMP=''
    if backup__dump_database "$db" "$prefix" "$suffix" "$tool" "$dump" "$verify"; then
      dbs_dumped+=("$db")
    else
      dbs_failed+=("$db")
      backup_discard "$BACKUP_TMP"
    fi
  done
  ((${#dbs_failed[@]} == 0)) || backup_die "failed databases: ${dbs_failed[*]} (the other dumps were kept)"
  backup__no_late_failure || exit 1
  for db in "${dbs_dumped[@]}"; do
    backup_retention "$BACKUP_DIR/per-db/$db" "$prefix" "$suffix" || exit 1
  done
  backup__prune_dropped "$prefix" "$suffix" || exit 1
}

# backup_known_database NAME: NAME exists on the server although the list step leaves it out (a
# database the tools cannot dump): its copies are not those of a dropped database.
backup_known_database() {
  BACKUP__KNOWN+=("$1")
}

BACKUP__LISTED=()       # every name the list step returned, excluded ones too
BACKUP__KNOWN=()        # filled by backup_known_database
BACKUP__DROPPED=()      # per-db directories with copies whose database no longer exists

# backup__find_dropped PREFIX SUFFIX: a database dropped since an earlier run left copies that
# nothing mentioned and nothing ever pruned. Logs each one and pushes their count.
backup__find_dropped() {
  local prefix=$1 suffix=$2 path name known
  BACKUP__DROPPED=()
  for path in "$BACKUP_DIR"/per-db/*/; do
    path=${path%/}
    [[ -d $path && ! -L $path ]] || continue
    name=${path##*/}
    for known in "${BACKUP__LISTED[@]}" "${BACKUP__KNOWN[@]}"; do
      [[ $known == "$name" ]] && continue 2
    done
    backup__series "$path" "$prefix" "$suffix"
    ((${#BACKUP__SERIES[@]})) || continue
    BACKUP__DROPPED+=("$name")
    backup_log "database '$name' no longer exists; its newest copy is per-db/$name/${BACKUP__SERIES[-1]}"
  done
  backup_metric backup_dropped_databases "${#BACKUP__DROPPED[@]}"
}

# backup__prune_dropped PREFIX SUFFIX: deletes the copies of a dropped database once its newest copy
# is older than BACKUP_DROPPED_KEEP_SECONDS (unset or 0: never). Only after a successful run, like
# retention; a database that still exists is never in BACKUP__DROPPED.
backup__prune_dropped() {
  local prefix=$1 suffix=$2 keep_seconds=${BACKUP_DROPPED_KEEP_SECONDS:-0} name dir newest ts cutoff f
  for name in "${BACKUP__DROPPED[@]}"; do
    if ((10#$keep_seconds == 0)); then
      backup_log "database '$name' was dropped; its copies are kept (BACKUP_DROPPED_KEEP_SECONDS is unset or 0)"
      continue
    fi
    cutoff=$(date -u -d "@$(($(date +%s) - 10#$keep_seconds))" +%Y%m%dT%H%M%SZ) || return 1
    dir="$BACKUP_DIR/per-db/$name"
    backup__series "$dir" "$prefix" "$suffix"
    ((${#BACKUP__SERIES[@]})) || continue
    newest=${BACKUP__SERIES[-1]}
    ts=${newest#"$prefix"}
    ts=${ts%"$suffix"}
    if [[ $ts < $cutoff ]]; then
      for f in "${BACKUP__SERIES[@]}"; do
        rm -f -- "${dir:?}/$f" || return 1
        backup__remove_manifest "$dir/$f" || return 1
      done
      # Anything else in it (a .rejected copy an operator may want) keeps the directory.
      rmdir -- "$dir" 2>/dev/null || true
      sync -- "$BACKUP_DIR/per-db" || true
      backup_log "database '$name' was dropped: deleted its ${#BACKUP__SERIES[@]} copies (the newest, $newest, is older than $keep_seconds s)"
    else
      backup_log "database '$name' was dropped; its copies are kept until $newest is older than $keep_seconds s"
    fi
  done
}

BACKUP__DATABASES=()    # filled by backup__list_databases

backup__list_databases() {
  local list=$1 db
  BACKUP__DATABASES=()
  if [[ -n ${BACKUP_DATABASES:-} ]]; then
    read -r -a BACKUP__DATABASES <<<"$BACKUP_DATABASES"
  else
    backup_tmpfile "$TMPDIR" databases || return 1
    backup_run "$list" "$BACKUP_TMP" || {
      backup_log "ERROR: cannot list databases"
      return 1
    }
    mapfile -d '' -t BACKUP__LISTED <"$BACKUP_TMP"
    backup_discard "$BACKUP_TMP"
    for db in "${BACKUP__LISTED[@]}"; do
      if backup_excluded_database "$db"; then
        backup_log "database '$db' is excluded by the policy; not backed up"
      else
        BACKUP__DATABASES+=("$db")
      fi
    done
  fi
  # Zero databases is the silently-empty backup these jobs exist to prevent.
  ((${#BACKUP__DATABASES[@]})) || {
    backup_log "ERROR: no databases to back up"
    return 1
  }
  backup_log "databases: ${BACKUP__DATABASES[*]}"
}

# backup__dump_database DB PREFIX SUFFIX TOOL DUMP VERIFY: non-zero when DB's copy is missing or
# unverified.
backup__dump_database() {
  local db=$1 prefix=$2 suffix=$3 tool=$4 dump=$5 verify=$6 dir
  backup_safe_name "$db" || return 1
  dir="$BACKUP_DIR/per-db/$db"
  mkdir -p -- "$dir" || return 1
  backup_tmpfile "$dir" "$prefix$BACKUP_TS$suffix" || return 1
  backup_log "$tool of database '$db'"
  if ! backup_run "$dump" "$db" "$BACKUP_TMP"; then
    backup_log "ERROR: $tool of database '$db' failed"
    return 1
  fi
  local copy=$BACKUP_TMP
  backup_manifest_stage "$copy" || return 1
  BACKUP_TMP=$copy
  "$verify" "$BACKUP_TMP" "$db" || return 1
  backup_commit "$BACKUP_TMP" "$dir" "$prefix" "$suffix" || return 1
}

# --- exit: cleanup and metrics ----------------------------------------------------------------

backup__redact_url() {
  # A URL with user:password@ must not reach the logs.
  local u=$1
  if [[ $u =~ ^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@(.*)$ ]]; then
    u="${BASH_REMATCH[1]}***@${BASH_REMATCH[2]}"
  fi
  printf '%s' "$u"
}

# backup_push_series SERVICE ENGINE KIND STATUS SIZE_BYTES [NAME VALUE]...: pushes the common
# metric family (and the extra gauges NAME VALUE) for another series than the run's own, now, with
# this run's start and duration. STATUS 0 is success. daily-backup gives its pfSense step a series
# of its own, so that the firewall's staleness alert sees it stop answering while the rest of the
# run succeeds. Returns non-zero only for a label value the Pushgateway cannot take.
backup_push_series() {
  local service=$1 engine=$2 kind=$3 status=$4 size=$5 label
  local -a extra=()
  shift 5
  for label in "$service" "$engine" "$kind"; do
    [[ $label =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || {
      backup_log "ERROR: '$label' cannot be a label value"
      return 1
    }
  done
  while (($# >= 2)); do
    extra+=("$1 $2")
    shift 2
  done
  backup__push "$service" "$engine" "$kind" "$status" "$size" "${extra[@]}"
}

backup__push_metrics() {
  backup__push "$BACKUP_SERVICE" "$BACKUP_ENGINE" "$BACKUP_KIND" "$1" "$BACKUP__SIZE_BYTES" "${BACKUP__EXTRA_METRICS[@]}"
}

# backup__push SERVICE ENGINE KIND RC SIZE ["NAME VALUE"]...
backup__push() {
  local service=$1 engine=$2 kind=$3 rc=$4 size=$5 now duration status labels body url out code pair
  shift 5
  if [[ -z ${PUSHGATEWAY_URL:-} ]]; then
    backup_log "PUSHGATEWAY_URL is empty; metrics not pushed"
    return 0
  fi
  now=$(date +%s)
  duration=$(awk -v a="$BACKUP__START_REAL" -v b="$(backup__now_real)" 'BEGIN { d = b - a; if (d < 0) d = 0; printf "%.3f", d }')
  status=0
  if ((rc == 0)); then status=1; fi
  labels="engine=\"$engine\",runner=\"$BACKUP_RUNNER\""
  body=$(
    printf '# TYPE %s gauge\n%s{%s} %s\n' \
      backup_last_attempt_timestamp_seconds backup_last_attempt_timestamp_seconds "$labels" "$BACKUP__START" \
      backup_last_run_success backup_last_run_success "$labels" "$status" \
      backup_last_duration_seconds backup_last_duration_seconds "$labels" "$duration" \
      backup_last_size_bytes backup_last_size_bytes "$labels" "$size"
    if ((rc == 0)); then
      printf '# TYPE %s gauge\n%s{%s} %s\n' \
        backup_last_success_timestamp_seconds backup_last_success_timestamp_seconds "$labels" "$now"
    fi
    for pair in "$@"; do
      printf '# TYPE %s gauge\n%s{%s} %s\n' "${pair%% *}" "${pair%% *}" "$labels" "${pair#* }"
    done
  )
  url="${PUSHGATEWAY_URL%/}/metrics/job/backup/service/$service/kind/$kind"
  # POST replaces only the pushed metric names in the group; PUT would replace the whole group and
  # erase backup_last_success_timestamp_seconds on every failed run, hiding how stale the last
  # good copy is. --retry-connrefused covers a Pushgateway pod that is restarting.
  out=$(curl -sS --max-time 10 --retry 2 --retry-delay 1 --retry-connrefused \
    -H 'Content-Type: text/plain; version=0.0.4' --data-binary @- \
    -w '\n%{http_code}' "$url" 2>&1 <<<"$body")
  code=${out##*$'\n'}
  if [[ $code == 2[0-9][0-9] ]]; then
    backup_log "pushed metrics to $(backup__redact_url "$url")"
  else
    # A monitoring outage must not turn a good backup into a failed one; the stale-success
    # alert still fires if pushes keep failing.
    backup_log "WARNING: metrics push to $(backup__redact_url "$url") failed (HTTP ${code:-none}): $(printf '%s' "${out%$'\n'*}" | tr '\n' ' ')"
  fi
}

# backup__stop_child: stops the step backup_run is waiting for, and waits (at most 10 s) until it
# is gone, so that it no longer holds a mount or writes a work file when the hooks and the cleanup
# run.
backup__stop_child() {
  local i
  [[ -n $BACKUP__CHILD ]] || return 0
  backup_log "stopping the running step (pid $BACKUP__CHILD)"
  backup__kill_tree "$BACKUP__CHILD"
  for ((i = 0; i < 100; i++)); do
    kill -0 "$BACKUP__CHILD" 2>/dev/null || break
    sleep 0.1
  done
  if ! kill -0 "$BACKUP__CHILD" 2>/dev/null; then wait "$BACKUP__CHILD" 2>/dev/null; fi
  BACKUP__CHILD=''
}

backup__on_exit() {
  local rc=$? hook
  set +e
  if ((rc == 0 && ${#BACKUP__LATE_FAILURES[@]})); then
    backup_log "ERROR: ${BACKUP__LATE_FAILURES[*]}"
    rc=1
  fi
  # Cleanup and the push must finish even if the signal is sent again.
  trap '' HUP INT TERM
  backup__stop_child
  for hook in "${BACKUP__EXIT_HOOKS[@]}"; do "$hook" "$rc"; done
  backup__discard_all
  backup__push_metrics "$rc"
  if ((rc == 0)); then
    backup_log "finished successfully ($BACKUP__SIZE_BYTES bytes written)"
  else
    backup_log "FAILED with exit status $rc"
  fi
  exit "$rc"
}

# --- Restores (host-scripts/CONTRACT.md, "Restore contract") ---------------------------------
# A restore Job carries its backup job's environment; these start it and find its copy, the same
# way for every engine's restore script.

BACKUP__RESTORE_STARTED=''

# backup_restore_init ENGINE MODE: reports under its own kind (restore-MODE), so a restore never
# touches the backup's series or alerts; takes no lock and writes nothing to the backup volume,
# which the Job mounts read-only; pushes backup_restore_* gauges with the run's own push.
backup_restore_init() {
  local engine=$1 mode=$2
  export BACKUP_KIND="restore-$mode"
  export BACKUP_RUNNER=${BACKUP_RUNNER:-cronjob}
  backup_init_without_volume "$engine" "restore-$mode"
  backup_require_env BACKUP_DIR
  [[ -d $BACKUP_DIR ]] || backup_die "BACKUP_DIR '$BACKUP_DIR' is not a directory"
  BACKUP__RESTORE_STARTED=$(date +%s.%N)
  backup_on_exit backup__report_restore
}

backup__report_restore() {
  local status=$1 duration
  duration=$(awk -v a="$BACKUP__RESTORE_STARTED" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
  backup_metric backup_restore_last_run_success "$((status == 0 ? 1 : 0))"
  backup_metric backup_restore_duration_seconds "$duration"
  if ((status == 0)); then backup_metric backup_restore_last_success_timestamp_seconds "$(date +%s)"; fi
}

# backup_restore_newest DIR SUFFIX [PREFIX]: the newest verified copy's name in DIR (relative to
# BACKUP_DIR, DIR ending in / or empty). Only verified copies carry the PREFIX<ts> name (PREFIX
# defaults to dump_; etcd and Vault copies are snapshot_<ts>): work files (.tmp.*) and refused
# copies (*.rejected) never match.
backup_restore_newest() {
  local dir=$1 suffix=$2 prefix=${3:-dump_} path name newest='' pattern
  pattern="^${prefix}[0-9]{8}T[0-9]{6}Z${suffix//./\\.}$"
  for path in "$BACKUP_DIR/$dir$prefix"*"$suffix"; do
    name=${path##*/}
    [[ -f $path && ! -L $path && $name =~ $pattern ]] || continue
    if [[ $name > $newest ]]; then newest=$name; fi
  done
  [[ -n $newest ]] || return 1
  printf '%s%s\n' "$dir" "$newest"
}

# backup_restore_copy DIR SUFFIX [PREFIX]: RESTORE_COPY (a name relative to BACKUP_DIR) or, for
# `latest` (the default), the newest copy in DIR. A name must be a copy of this mode in DIR: anything
# else (another mode's file, a path out of the volume, work in progress, a refused copy) is refused.
backup_restore_copy() {
  local dir=$1 suffix=$2 prefix=${3:-dump_} copy=${RESTORE_COPY:-latest} pattern
  pattern="^${prefix}[0-9]{8}T[0-9]{6}Z${suffix//./\\.}$"
  if [[ $copy == latest ]]; then
    backup_restore_newest "$dir" "$suffix" "$prefix" || backup_die "no copy ${dir}${prefix}<timestamp>$suffix in $BACKUP_DIR"
    return 0
  fi
  case /$copy/ in
    //*) backup_die "RESTORE_COPY must be relative to BACKUP_DIR, not an absolute path" ;;
    */../*) backup_die "RESTORE_COPY must not contain '..'" ;;
  esac
  case ${copy##*/} in
    .tmp.*) backup_die "RESTORE_COPY '$copy' is the work file of a backup run, not a verified copy" ;;
    *.rejected) backup_die "RESTORE_COPY '$copy' is a copy the backup refused (too small)" ;;
  esac
  if [[ ${copy:0:${#dir}} != "$dir" || ! ${copy:${#dir}} =~ $pattern ]]; then
    backup_die "RESTORE_COPY '$copy' is not a ${BACKUP_KIND#restore-} copy: expected ${dir}${prefix}<timestamp>$suffix"
  fi
  [[ -f $BACKUP_DIR/$copy && ! -L $BACKUP_DIR/$copy ]] || backup_die "RESTORE_COPY '$copy' does not exist in $BACKUP_DIR"
  printf '%s\n' "$copy"
}

# --- The copy's manifest, for the restores (CONTRACT.md, "Restore contract") --------------------
# A restore compares what it restored with <copy>.manifest.json, the counts the backup took from
# that copy; a copy without one (made before manifests) is checked against its own statements.

# backup_restore_manifest COPY: sets BACKUP_RESTORE_MANIFEST to COPY's manifest (COPY relative to
# BACKUP_DIR), or empty when it has none. A manifest that is not a format-1 manifest of this very
# copy (another copy's, another engine's or mode's, a size that differs) fails the restore: its
# counts would prove nothing.
backup_restore_manifest() {
  local copy=$1 file size
  file=$BACKUP_DIR/$copy.manifest.json
  BACKUP_RESTORE_MANIFEST=''
  if [[ ! -e $file ]]; then
    backup_log "$copy has no manifest (copies made before manifests): counts checked against the copy's own statements"
    return 0
  fi
  size=$(stat -c %s -- "$BACKUP_DIR/$copy") || backup_die "cannot read the size of $copy"
  jq -e --arg copy "${copy##*/}" --arg engine "$BACKUP_ENGINE" --arg kind "${BACKUP_KIND#restore-}" --argjson size "$size" \
    '.format == 1 and .copy == $copy and .engine == $engine and .kind == $kind and .bytes == $size and (.databases | type) == "object"' \
    "$file" >/dev/null 2>&1 ||
    backup_die "$copy.manifest.json does not describe $copy (format 1, engine $BACKUP_ENGINE, kind ${BACKUP_KIND#restore-}, $size bytes): the copy or its manifest is damaged"
  BACKUP_RESTORE_MANIFEST=$file
}

# The manifest's databases against the counts after the restore ($got, same shape), one line per
# difference naming the database and table (or large objects), expected (the manifest) and got
# (the server); databases named in $skip are the server's own and not compared.
# shellcheck disable=SC2016 # jq program: its $ are jq's
BACKUP__MANIFEST_DIFF_JQ='
def rows: if . == null then "no table" else "\(.) rows" end;
$got[0] as $g
| .databases | to_entries[] | select(.key as $k | $skip | any(.[]; . == $k) | not)
| .key as $db | .value as $e | $g[$db] as $h
| if $h == null then "database '"'"'\($db)'"'"': in the manifest, missing after the restore"
  else
    (($e.tables // {}) as $et | ($h.tables // {}) as $ht
     | ($et + $ht | keys[]) as $t | select($et[$t] != $ht[$t])
     | "database '"'"'\($db)'"'"', table \($t): expected \($et[$t] | rows), got \($ht[$t] | rows)"),
    (select(($e | has("largeObjects")) and $e.largeObjects != $h.largeObjects)
     | "database '"'"'\($db)'"'"': expected \($e.largeObjects) large objects, got \($h.largeObjects)")
  end
'

# The summary of what matched: databases, tables, rows, and large objects where the engine has them.
# shellcheck disable=SC2016 # jq program: its $ are jq's
BACKUP__MANIFEST_SUMMARY_JQ='
[.databases | to_entries[] | select(.key as $k | $skip | any(.[]; . == $k) | not) | .value]
| "\(length) databases, \(map(.tables // {} | length) | add // 0) tables, \(map(.tables // {} | .[]) | add // 0) rows"
  + (if any(.[]; has("largeObjects")) then ", \(map(.largeObjects // 0) | add // 0) large objects" else "" end)
'

# backup_restore_check_counts COPY GOT [SKIP_JSON]: the manifest's counts against GOT (a file of
# {"db": counts} JSON objects, one per database counted after the restore); SKIP_JSON lists
# databases not compared (the server's own). Logs every difference and fails, or logs what matched.
backup_restore_check_counts() {
  local copy=$1 got=$2 skip=${3:-[]} merged diffs n=0 line summary
  backup_tmpfile "$TMPDIR" counts-merged || exit 1
  merged=$BACKUP_TMP
  jq -s 'add // {}' "$got" >"$merged" || backup_die "cannot read the counts after the restore"
  diffs=$(jq -r --slurpfile got "$merged" --argjson skip "$skip" "$BACKUP__MANIFEST_DIFF_JQ" "$BACKUP_RESTORE_MANIFEST") ||
    backup_die "cannot compare with $copy.manifest.json"
  if [[ -n $diffs ]]; then
    while IFS= read -r line; do
      n=$((n + 1))
      if ((n <= 20)); then backup_log "manifest mismatch: $line"; fi
    done <<<"$diffs"
    backup_die "$n counts after the restore differ from $copy.manifest.json (above)"
  fi
  summary=$(jq -r --argjson skip "$skip" "$BACKUP__MANIFEST_SUMMARY_JQ" "$BACKUP_RESTORE_MANIFEST") ||
    backup_die "cannot read $copy.manifest.json"
  backup_log "counts match $copy.manifest.json: $summary"
}
