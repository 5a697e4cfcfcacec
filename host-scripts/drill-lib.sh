# shellcheck shell=bash
# Shared part of the restore drill scripts (<engine>-drill.sh; CONTRACT.md, "Restore drills").
# Sourced after backup-lib.sh. A drill restores the newest copy of one backup kind into a
# throwaway server inside its own pod (DRILL_DIR), counts what came back, compares it with the
# copy's manifest, runs the policy's queries and reports backup_restore_drill_* gauges. It reads
# the backup volume (mounted read-only) and writes nothing to it; it connects to nothing but its
# own server and the Pushgateway.
# Names with a double underscore (drill__*, DRILL__*) are this file's internals.

DRILL__RESTORE_SECONDS=''  # wall time of the restore, once measured
DRILL__RESTORE_START=''
DRILL__COPY_AGE=''         # now - the timestamp of the (oldest) copy drilled
DRILL__STOP_HOOKS=()       # functions that stop a throwaway server, newest first at exit
DRILL__COPY_TS=()          # the drilled copies' timestamps (epoch seconds)
DRILL_MANIFEST=''          # set by drill_manifest

# drill_init ENGINE KIND: KIND is the backup kind drilled (full, per-database, snapshot);
# BACKUP_KIND must be drill-KIND. Arms backup-lib's EXIT trap (cleanup, push) with the drill's own
# gauges and the servers' shutdown. BACKUP_DIR is only read; DRILL_DIR must be writable.
drill_init() {
  local engine=$1 kind=$2 name
  # Whatever the pod's environment holds, the clients below must never reach another server than
  # the drill's own: the connection settings of every engine are dropped.
  for name in PGHOST PGHOSTADDR PGPORT PGUSER PGPASSWORD PGDATABASE PGSERVICE PGSERVICEFILE PGPASSFILE \
    MYSQL_HOST MYSQL_TCP_PORT MYSQL_PWD MYSQL_UNIX_PORT REDISCLI_AUTH ETCDCTL_ENDPOINTS VAULT_ADDR VAULT_TOKEN; do
    unset "$name"
  done
  backup_init_without_volume "$engine" "drill-$kind"
  backup_on_exit drill__on_exit
  [[ -n ${BACKUP_DIR:-} && -d $BACKUP_DIR ]] || backup_die "BACKUP_DIR must be the backup volume (got '${BACKUP_DIR:-}')"
  [[ -n ${DRILL_DIR:-} && -d $DRILL_DIR && -w $DRILL_DIR ]] ||
    backup_die "DRILL_DIR must be a writable directory for the throwaway server (got '${DRILL_DIR:-}')"
  jq -e 'type == "array"' >/dev/null 2>&1 <<<"${DRILL_QUERIES:-[]}" ||
    backup_die "DRILL_QUERIES must be a JSON array (got '${DRILL_QUERIES:-}')"
  backup_log "restore drill of the newest $kind copy in $BACKUP_DIR (read-only); throwaway server in $DRILL_DIR"
}

# drill_on_stop FUNCTION: FUNCTION stops a server this drill started; the EXIT trap calls it on
# every path (success, failure, signal), the last registered first.
drill_on_stop() {
  DRILL__STOP_HOOKS=("$1" "${DRILL__STOP_HOOKS[@]}")
}

drill__on_exit() {
  local rc=$1 hook
  for hook in "${DRILL__STOP_HOOKS[@]}"; do "$hook" || backup_log "WARNING: $hook failed"; done
  backup_metric backup_restore_drill_success "$((rc == 0 ? 1 : 0))"
  if [[ -n $DRILL__RESTORE_SECONDS ]]; then backup_metric backup_restore_drill_duration_seconds "$DRILL__RESTORE_SECONDS"; fi
  if [[ -n $DRILL__COPY_AGE ]]; then backup_metric backup_restore_drill_copy_age_seconds "$DRILL__COPY_AGE"; fi
  if ((rc == 0)); then
    backup_metric backup_restore_drill_last_success_timestamp_seconds "$(date +%s)"
    backup_log "restore drill passed"
  else
    backup_log "ERROR: restore drill FAILED"
  fi
}

# drill_previous COPY PREFIX SUFFIX: the verified copy just before COPY in its directory.
drill_previous() {
  local copy=$1 prefix=$2 suffix=$3 dir='' path name previous='' pattern
  if [[ $copy == */* ]]; then dir=${copy%/*}/; fi
  pattern="^${prefix}[0-9]{8}T[0-9]{6}Z${suffix//./\\.}$"
  for path in "$BACKUP_DIR/$dir$prefix"*"$suffix"; do
    name=${path##*/}
    [[ -f $path && ! -L $path && $name =~ $pattern && $name < ${copy##*/} ]] || continue
    if [[ $name > $previous ]]; then previous=$name; fi
  done
  [[ -n $previous ]] || return 1
  printf '%s%s\n' "$dir" "$previous"
}

# drill_copy_time COPY: records the copy's timestamp (from its name) for the copy-age gauge and logs it.
drill_copy_time() {
  local name=${1##*/} ts epoch
  [[ $name =~ ([0-9]{8})T([0-9]{2})([0-9]{2})([0-9]{2})Z ]] || backup_die "cannot read a timestamp in the name $1"
  ts="${BASH_REMATCH[1]} ${BASH_REMATCH[2]}:${BASH_REMATCH[3]}:${BASH_REMATCH[4]} UTC"
  epoch=$(date -u -d "$ts" +%s) || backup_die "cannot read the timestamp of $1"
  DRILL__COPY_TS+=("$epoch")
  # The oldest of the copies drilled: per-database drills restore the newest copy of each.
  local oldest=$epoch t
  for t in "${DRILL__COPY_TS[@]}"; do ((t < oldest)) && oldest=$t; done
  DRILL__COPY_AGE=$(($(date +%s) - oldest))
  ((DRILL__COPY_AGE >= 0)) || DRILL__COPY_AGE=0
  backup_log "drilling $1 (made $(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ), $(((DRILL__COPY_AGE + 30) / 60)) minutes ago)"
}

# drill_manifest COPY: checks that COPY has a manifest that describes it (name, size, BLAKE2b of
# every byte) and sets DRILL_MANIFEST to its path. A copy without one cannot be drilled: there is
# nothing to compare the restore with.
drill_manifest() {
  local copy=$1 manifest="$BACKUP_DIR/$1.manifest.json" bytes digest
  [[ -f $manifest ]] || backup_die "copy $copy has no manifest ($copy.manifest.json): nothing to compare the restore with"
  jq -e '.format == 1' "$manifest" >/dev/null 2>&1 || backup_die "the manifest of $copy is not a format 1 manifest (unreadable JSON or another format)"
  [[ $(jq -r '.copy' "$manifest") == "${copy##*/}" ]] ||
    backup_die "the manifest of $copy describes the copy '$(jq -r '.copy' "$manifest")'"
  bytes=$(stat -c %s -- "$BACKUP_DIR/$copy") || backup_die "cannot read $copy"
  [[ $(jq -r '.bytes' "$manifest") == "$bytes" ]] ||
    backup_die "copy $copy is $bytes bytes, its manifest says $(jq -r '.bytes' "$manifest")"
  digest=$(b2sum <"$BACKUP_DIR/$copy") || backup_die "cannot read $copy"
  [[ $(jq -r '.blake2b' "$manifest") == "${digest%% *}" ]] ||
    backup_die "copy $copy does not have the BLAKE2b digest its manifest records (the copy changed after it was written)"
  DRILL_MANIFEST=$manifest
}

# drill_use_manifest COPY: the manifest drill_manifest checked for COPY becomes the one compared.
drill_use_manifest() {
  DRILL_MANIFEST="$BACKUP_DIR/$1.manifest.json"
}

# drill_restore_started / drill_restore_finished: the restore's wall time (server start, load),
# pushed as backup_restore_drill_duration_seconds. Several restores (per-database) add up.
drill_restore_started() {
  DRILL__RESTORE_START=$(date +%s.%N)
}
drill_restore_finished() {
  DRILL__RESTORE_SECONDS=$(awk -v a="$DRILL__RESTORE_START" -v b="$(date +%s.%N)" -v t="${DRILL__RESTORE_SECONDS:-0}" \
    'BEGIN { printf "%.3f", t + b - a }')
}

# jq program: compares the restored databases (the input) with the manifest's (--argjson want):
# one line per difference, naming the database and table, the manifest's count and the restore's.
# A database the restore holds but the manifest does not list is a difference only when it holds
# tables (the server's own empty maintenance database is not in every manifest).
# shellcheck disable=SC2016 # jq program: its $ are jq's
DRILL__COMPARE_JQ='
. as $got
| ([$want | keys[]] + [$got | keys[]] | unique)[] as $db
| if ($want | has($db) | not) then
    (if (($got[$db].tables // {}) | length) > 0
     then "database \($db | @json) is in the restore (\($got[$db].tables | length) tables) but not in the manifest" else empty end)
  elif ($got | has($db) | not) then "database \($db | @json): in the manifest, missing after the restore"
  else
    ( ([$want[$db].tables // {} | keys[]] + [$got[$db].tables // {} | keys[]] | unique)[] as $t
      | ($want[$db].tables[$t]) as $w | ($got[$db].tables[$t]) as $g
      | if $w == $g then empty
        else "database \($db | @json) table \($t | @json): manifest \($w // "no table") rows, restored \($g // "no table")" end ),
    ( if ($want[$db] | has("largeObjects")) and $want[$db].largeObjects != ($got[$db].largeObjects // 0)
      then "database \($db | @json): manifest \($want[$db].largeObjects) large objects, restored \($got[$db].largeObjects // 0)" else empty end )
  end
'

# drill_compare_databases COPY GOT_JSON: GOT_JSON ({"<db>": {"tables": {...}, "largeObjects": n}})
# against the manifest's databases (DRILL_MANIFEST); logs every difference and fails on any.
# ONLY (optional): compare only this database of the manifest (a per-database copy).
drill_compare_databases() {
  local copy=$1 got=$2 diff
  diff=$(jq -r --argjson want "$(jq -c '.databases // {}' "$DRILL_MANIFEST")" "$DRILL__COMPARE_JQ" <<<"$got") ||
    backup_die "cannot compare the restore of $copy with its manifest"
  if [[ -n $diff ]]; then
    while IFS= read -r line; do backup_log "ERROR: $copy: $line"; done <<<"$diff"
    backup_die "the restore of $copy does not hold what its manifest records (above)"
  fi
  backup_log "$copy: $(jq -r '[to_entries[] | "\(.key): \(.value.tables | length) tables, \([.value.tables[]] | add // 0) rows" + (if .value.largeObjects then ", \(.value.largeObjects) large objects" else "" end)] | join("; ")' <<<"$got") (as the manifest records)"
}

# drill_not_emptied COPY PREFIX SUFFIX: a database that held rows in the previous copy's manifest
# and none in this one's fails the drill. The copy restores, and matches its own manifest, but a
# database emptied by accident (a bad migration, a wrong TRUNCATE) must not pass for a good
# backup. A wanted emptying fails one drill; the next compares two empty copies.
drill_not_emptied() {
  local copy=$1 prefix=$2 suffix=$3 previous bad
  previous=$(drill_previous "$copy" "$prefix" "$suffix") || return 0
  [[ -f $BACKUP_DIR/$previous.manifest.json ]] || return 0
  bad=$(jq -r --slurpfile before "$BACKUP_DIR/$previous.manifest.json" '
    def rows(d): [d.tables // {} | .[]] | add // 0;
    .databases // {} | to_entries[] | .key as $db
    | ($before[0].databases[$db] // null) as $b
    | select($b != null and rows($b) > 0 and rows(.value) == 0)
    | "database \($db | @json) holds no rows, but held \(rows($b)) in the previous copy"' "$DRILL_MANIFEST") ||
    backup_die "cannot compare the manifests of $copy and $previous"
  if [[ -n $bad ]]; then
    while IFS= read -r line; do backup_log "ERROR: $copy: $line ($previous)"; done <<<"$bad"
    backup_die "copy $copy holds an empty database that was not empty before (above)"
  fi
}

# drill_queries RUNNER DEFAULT_DB: runs each of DRILL_QUERIES through `RUNNER DB SQL` (prints the
# query's one value) and checks it against the query's min/max/equals. A query that fails, prints
# something else than one number, or is out of bounds fails the drill, named by its index.
drill_queries() {
  local runner=$1 default_db=$2 n i db sql result verdict
  n=$(jq 'length' <<<"${DRILL_QUERIES:-[]}")
  for ((i = 0; i < n; i++)); do
    db=$(jq -r --argjson i "$i" '.[$i].database // empty' <<<"$DRILL_QUERIES")
    db=${db:-$default_db}
    sql=$(jq -r --argjson i "$i" '.[$i].sql' <<<"$DRILL_QUERIES")
    if ! result=$(backup_run "$runner" "$db" "$sql" 2>"$TMPDIR/.drill-query-error"); then
      backup_log "ERROR: query $i (database '$db') failed: $(head -c 300 -- "$TMPDIR/.drill-query-error" | tr '\n' ' ')"
      rm -f -- "$TMPDIR/.drill-query-error"
      backup_die "drill query $i failed"
    fi
    rm -f -- "$TMPDIR/.drill-query-error"
    # One value: surrounding blanks go, but two rows (or columns) must not join into one number.
    result=${result//$'\r'/}
    result=${result#"${result%%[![:space:]]*}"}
    result=${result%"${result##*[![:space:]]}"}
    [[ $result =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]] ||
      backup_die "drill query $i (database '$db') returned '$(printf '%s' "$result" | head -c 100 | tr '\n\t' '  ')', not one number"
    verdict=$(jq -r --argjson i "$i" --argjson v "$result" '.[$i] as $q
      | [ (if $q.min != null and $v < $q.min then "below the minimum \($q.min)" else empty end),
          (if $q.max != null and $v > $q.max then "above the maximum \($q.max)" else empty end),
          (if $q.equals != null and $v != $q.equals then "not equal to \($q.equals)" else empty end) ] | join(", ")' <<<"$DRILL_QUERIES")
    [[ -z $verdict ]] || backup_die "drill query $i (database '$db') returned $result: $verdict"
    backup_log "query $i (database '$db'): $result, as expected"
  done
}

# drill_wait_for PID SECONDS WHAT LOG COMMAND...: polls COMMAND until it succeeds (the server
# PID accepts connections); fails naming WHAT, with the end of its LOG, when PID exits first or
# after SECONDS.
drill_wait_for() {
  local pid=$1 seconds=$2 what=$3 log=$4 i
  shift 4
  for ((i = 0; i < seconds * 5; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      drill_log_tail "$log" "$what"
      backup_die "$what exited while starting (its log above)"
    fi
    sleep 0.2
  done
  drill_log_tail "$log" "$what"
  backup_die "$what did not start within $seconds s (its log above)"
}

# drill_log_tail FILE WHAT: the last lines of a throwaway server's log, into the drill's log.
drill_log_tail() {
  local line
  [[ -f $1 ]] || return 0
  while IFS= read -r line; do backup_log "$2: $line"; done < <(tail -n 15 -- "$1")
}

# drill_kill PID NAME: stops a server process (SIGTERM, then SIGKILL after 30 s) and waits for it.
drill_kill() {
  local pid=$1 name=$2 i
  [[ -n $pid ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    backup_log "WARNING: $name did not stop within 30 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  backup_log "stopped the throwaway $name"
}
