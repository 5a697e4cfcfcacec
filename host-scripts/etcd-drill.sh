#!/usr/bin/env bash
# etcd restore drill (CONTRACT.md, "Restore drills"): the newest snapshot is restored with
# `etcdutl snapshot restore` (which checks the snapshot's hash) into DRILL_DIR and served by a
# throwaway single-member etcd on 127.0.0.1 (random high ports, nothing else can reach the pod's
# loopback); its keys and revision are compared with the copy's manifest.
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
drill_init etcd snapshot
export ETCDCTL_API=3

DATA=$DRILL_DIR/etcd
SNAPSHOT=$DRILL_DIR/snapshot.db
LOG=$DRILL_DIR/etcd.log
SERVER_PID=''
stop_server() {
  drill_kill "$SERVER_PID" "etcd server"
  rm -rf -- "$DATA" "$SNAPSHOT"
}

# A port nothing listens on (a connection to it is refused).
free_port() {
  local port i
  for ((i = 0; i < 50; i++)); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  return 1
}

copy=$(backup_restore_newest '' .db.zst snapshot_) || backup_die "no copy (snapshot_<timestamp>.db.zst) in $BACKUP_DIR to drill"
drill_copy_time "$copy"
drill_manifest "$copy"

drill_restore_started
drill_on_stop stop_server
backup_run zstd -dcq -o "$SNAPSHOT" -- "$BACKUP_DIR/$copy" || backup_die "cannot decompress $copy"
# The ports are free when chosen, but another process can take one before etcd binds it (a
# pod's loopback is shared with its other containers, a host-network pod's with the whole node):
# a start that fails on a taken port restores again for new ports and starts again.
started=0
for ((attempt = 1; attempt <= 5; attempt++)); do
  client_port=$(free_port) || backup_die "no free port on 127.0.0.1"
  peer_port=$(free_port) || backup_die "no free port on 127.0.0.1"
  client=http://127.0.0.1:$client_port
  peer=http://127.0.0.1:$peer_port
  rm -rf -- "$DATA"
  backup_run etcdutl snapshot restore "$SNAPSHOT" --data-dir "$DATA" --name drill \
    --initial-cluster "drill=$peer" --initial-advertise-peer-urls "$peer" >"$LOG" 2>&1 || {
    drill_log_tail "$LOG" "etcdutl snapshot restore"
    backup_die "etcdutl snapshot restore rejects $copy"
  }
  : >"$LOG"
  etcd --name drill --data-dir "$DATA" --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" --initial-cluster "drill=$peer" \
    --log-outputs "$LOG" --log-level warn &
  SERVER_PID=$!
  for ((i = 0; i < 600; i++)); do
    if etcdctl --endpoints="$client" endpoint health >/dev/null 2>&1; then
      started=1
      break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.2
  done
  ((started)) && break
  if kill -0 "$SERVER_PID" 2>/dev/null || ! grep -q 'address already in use' -- "$LOG"; then
    drill_log_tail "$LOG" "the throwaway etcd server"
    backup_die "the throwaway etcd server did not start (its log above)"
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=''
  backup_log "a port given to the throwaway etcd server was taken meanwhile; starting again on others"
done
((started)) || backup_die "the throwaway etcd server found no free ports in 5 attempts"
rm -f -- "$SNAPSHOT"
drill_restore_finished
backup_log "throwaway etcd $(etcd --version | sed -n 's/^etcd Version: //p') serves $copy on 127.0.0.1:$client_port"

# --count-only answers in the `fields` format only: "Count" : N and "Revision" : N lines.
got=$(etcdctl --endpoints="$client" get '' --from-key --count-only -w fields |
  sed -n 's/^"\(Count\|Revision\)" : \([0-9]*\)$/\1 \2/p' |
  jq -R -s -c 'split("\n") | map(select(length > 0) | split(" ")) | map({key: .[0], value: (.[1] | tonumber)}) | from_entries
    | if has("Revision") then {keys: (.Count // 0), revision: .Revision} else error("no revision") end') ||
  backup_die "cannot count the keys of the restored server"
diff=$(jq -r --argjson got "$got" '.etcd as $w
  | if $w == null then "the manifest has no etcd section"
    else
      (if $w.keys != $got.keys then "keys: manifest \($w.keys), restored \($got.keys)" else empty end),
      (if $w.revision != $got.revision then "revision: manifest \($w.revision), restored \($got.revision)" else empty end)
    end' "$DRILL_MANIFEST") || backup_die "cannot compare the restore of $copy with its manifest"
if [[ -n $diff ]]; then
  while IFS= read -r line; do backup_log "ERROR: $copy: $line"; done <<<"$diff"
  backup_die "the restore of $copy does not hold what its manifest records (above)"
fi
backup_log "$copy: $(jq -r '"\(.keys) keys at revision \(.revision)"' <<<"$got") (as the manifest records)"
