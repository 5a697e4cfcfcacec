#!/usr/bin/env bash
# Redis restore: one RDB copy into Redis's data volume, for a Redis that is stopped.
# Interface: the restore contract in CONTRACT.md. The password only ever reaches redis-cli through
# REDISCLI_AUTH, which it reads itself.
#
# Why the server must be down: Redis writes its dataset to dbfilename on shutdown (and on every
# save rule), so a file restored under a running Redis is overwritten by the data it replaced.
#
# Why a new append-only set and not just "move appendonlydir aside": a Redis with `appendonly yes`
# loads only its append-only files, and when they are missing it starts EMPTY, writes an empty base
# and ignores dump.rdb (measured with Redis 7.0 and 8.0). So the copy also becomes the base of a
# new set (an RDB is a valid base: `<appendfilename>.1.base.rdb` and a one-line manifest), and the
# restored data loads whichever way the server is configured.
#
# Who writes: the Job runs as the backup's user, the only one that can read the copies (0600,
# written under umask 077), with Redis's group as fsGroup: the kubelet makes the volume writable
# for that group, and the restored files are handed to it (0640, directories 0770).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"

mode=${1:-}
if [[ $mode != snapshot ]]; then
  echo "usage: $0 snapshot" >&2
  exit 2
fi
backup_restore_init redis "$mode"
backup_require_env REDIS_HOST REDIS_PORT REDIS_DATA_DIR REDIS_DB_FILENAME REDIS_FSGROUP

data=$REDIS_DATA_DIR
db_name=$REDIS_DB_FILENAME
aof_dirname=${REDIS_APPEND_DIRNAME:-appendonlydir}
aof_filename=${REDIS_APPEND_FILENAME:-appendonly.aof}
group=$REDIS_FSGROUP
for name in "$db_name" "$aof_dirname" "$aof_filename"; do
  backup_safe_name "$name" || backup_die "'$name' is not a file name in Redis's dir"
done
[[ $group =~ ^[1-9][0-9]*$ ]] || backup_die "REDIS_FSGROUP must be a group id, received '$group'"
[[ -d $data ]] || backup_die "REDIS_DATA_DIR '$data' is not a directory (the Redis data volume)"
overwrite=0
if [[ ${RESTORE_OVERWRITE:-} == yes ]]; then overwrite=1; fi

workload_hint() {
  if [[ -n ${RESTORE_WORKLOAD:-} ]]; then
    printf 'kubectl -n %s scale %s --replicas=%s' "${RESTORE_NAMESPACE:-default}" "$RESTORE_WORKLOAD" "$1"
  else
    printf 'scale the StatefulSet or Deployment running Redis to %s' "$1"
  fi
}

# 1. Redis must be stopped. Anything but "could not connect" (PONG, NOAUTH, LOADING, an error
# reply) is a server that answers. A connection that hangs until the timeout is no server either.
answer=$(timeout 10 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" PING 2>&1) && status=0 || status=$?
first=${answer%%$'\n'*}
if ((status != 124)) && [[ -n $answer && $first != "Could not connect"* ]]; then
  backup_die "Redis still answers at $REDIS_HOST:$REDIS_PORT (${first:0:80}): it would write its dataset over the restored $db_name on shutdown. Scale it to 0 first: $(workload_hint 0)"
fi
backup_log "no Redis answers at $REDIS_HOST:$REDIS_PORT"

# 2. The copy: the newest verified one or RESTORE_COPY, checked against its manifest (when the
# backup wrote one) and by redis-check-rdb before anything in the volume changes.
copy=$(backup_restore_copy '' .rdb)
src=$BACKUP_DIR/$copy
manifest=$src.manifest.json
bytes=$(stat -c %s -- "$src")
backup_log "restoring $copy ($bytes bytes)"
if [[ -f $manifest ]]; then
  jq -e 'type == "object" and .format == 1' -- "$manifest" >/dev/null || backup_die "$copy.manifest.json is not a format 1 manifest"
  want_bytes=$(jq -r '.bytes // empty' -- "$manifest")
  want_digest=$(jq -r '.blake2b // empty' -- "$manifest")
  if [[ -n $want_bytes && $want_bytes != "$bytes" ]]; then backup_die "$copy: the manifest says $want_bytes bytes, the copy has $bytes"; fi
  if [[ -n $want_digest ]]; then
    digest=$(b2sum <"$src") || backup_die "cannot read $copy"
    [[ ${digest%% *} == "$want_digest" ]] || backup_die "$copy: its BLAKE2b digest differs from the manifest's (the copy changed since it was written)"
  fi
else
  backup_log "no manifest beside $copy (an older copy): key counts are not compared"
  manifest=''
fi
redis-check-rdb "$src" >/dev/null 2>&1 || backup_die "redis-check-rdb rejects $copy"

# 3. What is in the volume already. The dump and an append-only set are replaced only with
# RESTORE_OVERWRITE=yes, and even then kept: renamed <name>.before-restore-<ts>.
db_path=$data/$db_name
aof_path=$data/$aof_dirname
existing=()
if [[ -e $db_path || -L $db_path ]]; then existing+=("$db_name ($(stat -c '%s bytes, modified %y' -- "$db_path"))"); fi
if [[ -e $aof_path || -L $aof_path ]]; then existing+=("$aof_dirname/ (append-only files: $(find "$aof_path" -maxdepth 1 -type f -printf '%f ' 2>/dev/null))"); fi
if ((${#existing[@]})) && ((!overwrite)); then
  for e in "${existing[@]}"; do backup_log "would replace: $e"; done
  backup_die "$data already holds Redis data (above); a restore would replace it. Set RESTORE_OVERWRITE=yes (backup-policy restore --yes) to replace it: the old files are renamed *.before-restore-$BACKUP_TS, never deleted"
fi
with_aof=0
if [[ ${REDIS_APPENDONLY:-no} == yes || -e $aof_path ]]; then with_aof=1; fi

# 4. The new files, complete and synced under work names in the volume itself (same filesystem,
# so the renames below are atomic).
not_writable() {
  backup_die "cannot write into $data as uid $(id -u) (groups $(id -G)): the volume must be writable by group $group, which the kubelet arranges through the pod's fsGroup on volumes that support it (a hostPath or NFS volume does not); or make it so by hand"
}
place() { # place SRC FILE: FILE gets SRC's bytes, Redis's group and mode 0640, synced.
  cat -- "$1" >"$2" && chgrp -- "$group" "$2" && chmod 0640 -- "$2" && sync -- "$2"
}
backup_tmpfile "$data" "$db_name" || not_writable
db_tmp=$BACKUP_TMP
place "$src" "$db_tmp" || backup_die "cannot write $db_tmp"
# The check runs on the bytes Redis will load; its counts are what Redis will hold.
check=$(redis-check-rdb "$db_tmp" 2>&1) || backup_die "redis-check-rdb rejects the written file"
keys=$(sed -n 's/^\[info\] \([0-9]*\) keys read$/\1/p' <<<"$check")
expires=$(sed -n 's/^\[info\] \([0-9]*\) expires$/\1/p' <<<"$check")
[[ -n $keys && -n $expires ]] || backup_die "redis-check-rdb did not report the key counts"
backup_log "the copy holds $keys keys, $expires with a TTL"
if [[ -n $manifest ]]; then
  want_keys=$(jq -r '.redis.keys // empty' -- "$manifest")
  want_expires=$(jq -r '.redis.expires // empty' -- "$manifest")
  if [[ -n $want_keys && $want_keys != "$keys" ]]; then backup_die "keys: the manifest says $want_keys, the restored file holds $keys"; fi
  if [[ -n $want_expires && $want_expires != "$expires" ]]; then backup_die "keys with a TTL: the manifest says $want_expires, the restored file holds $expires"; fi
  backup_log "key counts match the manifest"
fi
if ((with_aof)); then
  backup_tmpdir "$data" "$aof_dirname" || not_writable
  aof_tmp=$BACKUP_TMP
  base=$aof_filename.1.base.rdb
  place "$src" "$aof_tmp/$base" || backup_die "cannot write the append-only base"
  printf 'file %s seq 1 type b\n' "$base" >"$aof_tmp/$aof_filename.manifest" || backup_die "cannot write the append-only manifest"
  # Redis adds its incr file and rewrites the manifest in this directory: its group writes here.
  if ! { chgrp -- "$group" "$aof_tmp" "$aof_tmp/$aof_filename.manifest" && chmod 0770 -- "$aof_tmp" &&
    chmod 0640 -- "$aof_tmp/$aof_filename.manifest" && sync -- "$aof_tmp/$aof_filename.manifest" "$aof_tmp"; }; then
    backup_die "cannot hand the append-only files to group $group"
  fi
fi

# 5. Into place: the old files renamed aside first, then the new ones renamed in.
if [[ -e $aof_path || -L $aof_path ]]; then
  mv -T -- "$aof_path" "$aof_path.before-restore-$BACKUP_TS" || backup_die "cannot move $aof_dirname aside"
  backup_log "moved $aof_dirname aside: $aof_dirname.before-restore-$BACKUP_TS"
fi
if ((with_aof)); then
  mv -T -- "$aof_tmp" "$aof_path" || backup_die "cannot rename the new $aof_dirname into place"
  backup_untrack "$aof_tmp"
  backup_log "wrote $aof_dirname/ with the copy as its base ($base)"
fi
if [[ -e $db_path || -L $db_path ]]; then
  # A second name for the old dump, so the rename below replaces it atomically and it survives.
  ln -- "$db_path" "$db_path.before-restore-$BACKUP_TS" 2>/dev/null || cp -p -- "$db_path" "$db_path.before-restore-$BACKUP_TS" ||
    backup_die "cannot keep the old $db_name aside"
  backup_log "kept the old $db_name as $db_name.before-restore-$BACKUP_TS"
fi
mv -T -- "$db_tmp" "$db_path" || backup_die "cannot rename the restored file to $db_name"
backup_untrack "$db_tmp"
sync -- "$data" || backup_die "cannot sync $data"
backup_add_size "$bytes"
backup_log "restored $copy as $db_name (group $group, mode 0640)"
backup_log "next: start Redis ($(workload_hint 1)) and compare INFO keyspace with the $keys keys above"
if ((with_aof)); then
  backup_log "next: Redis loads the new $aof_dirname whether appendonly is yes or no; with appendonly yes, BGREWRITEAOF once it runs folds it into a fresh base"
fi
