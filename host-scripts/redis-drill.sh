#!/usr/bin/env bash
# Redis restore drill (CONTRACT.md, "Restore drills"): the newest RDB copy is loaded by a
# throwaway redis-server in DRILL_DIR (no TCP port, a Unix socket only, nothing saved), and its
# keys per database are compared with the copy's manifest.
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
drill_init redis snapshot

DATA=$DRILL_DIR/redis
SOCKET=$DRILL_DIR/redis.sock
LOG=$DRILL_DIR/redis.log
SERVER_PID=''
stop_server() {
  drill_kill "$SERVER_PID" "Redis server"
  rm -rf -- "$DATA" "$SOCKET"
}
cli() { redis-cli -s "$SOCKET" "$@"; }
pong() { [[ $(cli ping 2>/dev/null) == PONG ]]; }

copy=$(backup_restore_newest '' .rdb) || backup_die "no copy (dump_<timestamp>.rdb) in $BACKUP_DIR to drill"
drill_copy_time "$copy"
drill_manifest "$copy"

drill_restore_started
drill_on_stop stop_server
mkdir -m 700 -- "$DATA" || backup_die "cannot create $DATA"
# The server reads the RDB from its own directory; the backup volume stays untouched.
cp -- "$BACKUP_DIR/$copy" "$DATA/dump.rdb" || backup_die "cannot copy $copy into $DATA"
redis-server --port 0 --unixsocket "$SOCKET" --unixsocketperm 700 --dir "$DATA" --dbfilename dump.rdb \
  --save '' --appendonly no --logfile "$LOG" --daemonize no &
SERVER_PID=$!
drill_wait_for "$SERVER_PID" 300 "the throwaway Redis server" "$LOG" pong
drill_restore_finished
backup_log "throwaway Redis $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p') loaded $copy (socket $SOCKET, no TCP port)"

# db0:keys=3,expires=1,avg_ttl=... -> {"databases": {"0": 3}, "keys": n, "expires": n}
keyspace=$(cli info keyspace | tr -d '\r' | sed -n 's/^db\([0-9]*\):keys=\([0-9]*\),expires=\([0-9]*\).*/\1 \2 \3/p' |
  jq -R -s -c 'split("\n") | map(select(length > 0) | split(" ") | map(tonumber))
    | {databases: (map({key: (.[0] | tostring), value: .[1]}) | from_entries), keys: (map(.[1]) | add // 0), expires: (map(.[2]) | add // 0)}') ||
  backup_die "cannot read the keyspace of the restored server"

# Keys with a TTL that passed since the copy was made are dropped when the RDB loads, so only the
# keys without one must match exactly; a database may lose at most the manifest's expiring keys.
diff=$(jq -r --argjson got "$keyspace" '.redis as $w
  | if $w == null then "the manifest has no redis section"
    else
      (if ($w.keys - $w.expires) != ($got.keys - $got.expires)
       then "keys without a TTL: manifest \($w.keys - $w.expires), restored \($got.keys - $got.expires)" else empty end),
      ( ([$w.databases | keys[]] + [$got.databases | keys[]] | unique)[] as $db
        | ($w.databases[$db] // 0) as $e | ($got.databases[$db] // 0) as $g
        | if $g > $e or $g < $e - $w.expires then "db \($db): manifest \($e) keys, restored \($g)" else empty end )
    end' "$DRILL_MANIFEST") || backup_die "cannot compare the restore of $copy with its manifest"
if [[ -n $diff ]]; then
  while IFS= read -r line; do backup_log "ERROR: $copy: $line"; done <<<"$diff"
  backup_die "the restore of $copy does not hold what its manifest records (above)"
fi
backup_log "$copy: $(jq -r '"\(.keys) keys (\(.expires) with a TTL) in \(.databases | length) databases"' <<<"$keyspace") (as the manifest records)"
