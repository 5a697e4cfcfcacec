#!/usr/bin/env bash
# etcd restore: a snapshot copy into the member's own data directory, on the node where the member
# runs (the Job mounts the directory holding the data directory from the node). Interface: the
# restore contract in CONTRACT.md.
#
# etcd must be stopped first: a running member holds bbolt's lock on member/snap/db and would keep
# its own data. The script waits (ETCD_RESTORE_WAIT_SECONDS) for the operator to stop it, because on
# a kubeadm control plane stopping etcd also stops the API server, after which no new Job could be
# started; a pod already running on the node keeps running without it.
#
# The snapshot is restored next to the data directory (<dir>.restored-<ts>) with the member's own
# name, peer URL and cluster, so that the member comes back as itself (a plain `snapshot restore`
# advertises http://localhost:2380); then the old directory is renamed <dir>.before-restore-<ts>
# (never deleted) and the restored one takes its place.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"

mode=${1:-}
[[ $mode == snapshot ]] || {
  echo "usage: $0 snapshot" >&2
  exit 2
}
backup_restore_init etcd snapshot
backup_require_env ETCD_RESTORE_NAME ETCD_RESTORE_PEER_URL ETCD_RESTORE_INITIAL_CLUSTER ETCD_RESTORE_DATA_DIR
export ETCDCTL_API=3

data=${ETCD_RESTORE_DATA_DIR%/}
# The node's own path, for every message a person acts on at the node.
node_data=${ETCD_RESTORE_NODE_DATA_DIR:-$data}
parent=${data%/*}
base=${data##*/}
wait_seconds=${ETCD_RESTORE_WAIT_SECONDS:-0}
[[ $wait_seconds =~ ^[0-9]+$ ]] || backup_die "ETCD_RESTORE_WAIT_SECONDS must be a whole number of seconds (got '$wait_seconds')"
[[ -n $parent && -n $base && $base != . && $base != .. ]] || backup_die "ETCD_RESTORE_DATA_DIR must be a directory below the mounted node directory (got '$data')"
[[ -d $parent && -w $parent ]] ||
  backup_die "${node_data%/*} (holding the data directory) is not mounted writable at $parent: the Job must run on the member's node"
[[ ! -e $data || -d $data ]] || backup_die "$node_data exists and is not a directory"

WHY=""
overwrite=0
if [[ ${RESTORE_OVERWRITE:-} == yes ]]; then overwrite=1; fi

copy=$(backup_restore_copy '' .db.zst snapshot_)
restored=$parent/$base.restored-$BACKUP_TS
before=$parent/$base.before-restore-$BACKUP_TS

# An existing member is replaced only when asked to, before any waiting or work: a refusal is
# immediate and changes nothing.
if [[ -d $data/member ]] && ((!overwrite)); then
  backup_die "$node_data holds an etcd member (member/ with its database and WAL); restoring $copy would replace it (the old directory would be kept as $node_data.before-restore-$BACKUP_TS): set RESTORE_OVERWRITE=yes to do that"
fi

HOW_TO_STOP="stop it on this node first. kubeadm: mkdir -p /etc/kubernetes/manifests.stopped && mv /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests.stopped/ (the kubelet stops both within about 20 s; this pod keeps running). etcd as a service: systemctl stop etcd"

# etcd_running: prints why etcd counts as running (status 0); 1 when it is stopped, 2 when the lock
# cannot be tested (which never counts as stopped). A member that is up
# holds an exclusive flock on its bbolt database (bbolt takes it on open); a member elsewhere that
# still answers at an endpoint means the cluster is up, and every member of it must be stopped
# before any is restored from a snapshot.
etcd_running() {
  local db=$data/member/snap/db rc=0 endpoint
  if [[ -f $db ]]; then
    # Only on an existing file: flock(1) would create a missing one.
    flock -n -E 75 "$db" true || rc=$?
    case $rc in
      0) ;;
      75)
        printf 'it holds the lock on %s/member/snap/db' "$node_data"
        return 0
        ;;
      *)
        printf 'cannot test the lock on %s/member/snap/db (flock exit %s)' "$node_data" "$rc"
        return 2
        ;;
    esac
  fi
  if [[ -n ${ETCDCTL_ENDPOINTS:-} ]]; then
    local -a endpoints
    IFS=', ' read -r -a endpoints <<<"$ETCDCTL_ENDPOINTS"
    for endpoint in "${endpoints[@]}"; do
      [[ -n $endpoint ]] || continue
      if ETCDCTL_ENDPOINTS=$endpoint etcdctl endpoint health --dial-timeout=2s --command-timeout=3s >/dev/null 2>&1; then
        printf '%s answers' "$endpoint"
        return 0
      fi
    done
  fi
  return 1
}

# is_running: etcd_running into WHY; dies when the lock cannot be tested.
is_running() {
  local rc=0
  WHY=$(etcd_running) || rc=$?
  ((rc != 2)) || backup_die "$WHY"
  return "$rc"
}

# wait_until_stopped: returns once etcd is stopped; fails when it still runs after the wait.
wait_until_stopped() {
  local why deadline told=0
  deadline=$(($(date +%s) + wait_seconds))
  while is_running; do
    why=$WHY
    if (($(date +%s) >= deadline)); then
      backup_die "etcd is still running on $node_data ($why): $HOW_TO_STOP; nothing was changed"
    fi
    if ((!told)); then
      backup_log "etcd is running on $node_data ($why): $HOW_TO_STOP. Waiting up to ${wait_seconds}s for it to stop"
      told=1
    fi
    sleep 2
  done
  if ((told)); then backup_log "etcd has stopped"; fi
}

# manifest_field FILTER: a value of the copy's manifest (host-scripts/CONTRACT.md), empty when the
# copy has none or the manifest lacks it.
manifest=$BACKUP_DIR/$copy.manifest.json
manifest_field() {
  [[ -f $manifest ]] || return 0
  jq -er "$1 // empty" -- "$manifest" 2>/dev/null || true
}

# check_copy: the copy's bytes against its manifest (size, BLAKE2b), when it has one.
check_copy() {
  local bytes digest size got
  if [[ ! -f $manifest ]]; then
    backup_log "no manifest beside $copy (an older copy): restoring without its recorded size and digest"
    return 0
  fi
  jq -e . -- "$manifest" >/dev/null 2>&1 || backup_die "$copy.manifest.json is not valid JSON"
  bytes=$(manifest_field .bytes)
  digest=$(manifest_field .blake2b)
  size=$(stat -c %s -- "$BACKUP_DIR/$copy")
  if [[ -n $bytes ]] && ((size != bytes)); then backup_die "$copy has $size bytes, its manifest records $bytes"; fi
  if [[ -n $digest ]]; then
    [[ $digest =~ ^[0-9a-f]+$ && $((${#digest} % 2)) == 0 && ${#digest} -le 128 ]] || backup_die "the manifest's blake2b is not a hex digest"
    got=$(b2sum -l $((${#digest} * 4)) <"$BACKUP_DIR/$copy") || backup_die "cannot read $copy"
    [[ ${got%% *} == "$digest" ]] || backup_die "$copy does not match the BLAKE2b digest of its manifest: the copy changed since it was written"
  fi
  backup_log "$copy matches its manifest ($size bytes${digest:+, BLAKE2b})"
}

# snapshot_field FILE FIELD: a number from `etcdctl snapshot status` (3.5 prints a deprecation note
# on stderr; etcdutl is not in the image).
snapshot_field() {
  local out
  out=$(etcdctl snapshot status -w json -- "$1" 2>/dev/null) || return 1
  jq -er ".$2" <<<"$out"
}

wait_until_stopped
check_copy
backup_log "restoring member $ETCD_RESTORE_NAME ($ETCD_RESTORE_PEER_URL) from $copy into $node_data"

backup_tmpdir "$TMPDIR" etcd-restore || exit 1
raw=$BACKUP_TMP/snapshot.db
backup_run zstd -dq -c -- "$BACKUP_DIR/$copy" >"$raw" || backup_die "cannot decompress $copy"
revision=$(snapshot_field "$raw" revision) || backup_die "$copy is not an etcd snapshot (etcdctl snapshot status fails)"
want=$(manifest_field .etcd.revision)
if [[ -n $want ]] && ((revision != want)); then
  backup_die "$copy holds revision $revision, its manifest records $want"
fi

[[ ! -e $restored ]] || backup_die "${restored#"$parent"/} exists already beside $node_data"
backup_track "$restored"
# `snapshot restore` checks the sha256 that `snapshot save` appended (status does not) and refuses
# a directory that exists. The cluster token stays etcd's default, as kubeadm's.
backup_run etcdctl snapshot restore "$raw" --data-dir "$restored" --name "$ETCD_RESTORE_NAME" \
  --initial-cluster "$ETCD_RESTORE_INITIAL_CLUSTER" --initial-advertise-peer-urls "$ETCD_RESTORE_PEER_URL" >&2 ||
  backup_die "etcdctl snapshot restore rejects $copy"
backup_discard "${raw%/*}"
got=$(snapshot_field "$restored/member/snap/db" revision) || backup_die "the restored database cannot be read"
((got == revision)) || backup_die "the restored database holds revision $got, $copy holds $revision"

# The operator may have started etcd again while the snapshot was restored.
if is_running; then
  backup_die "etcd started again on $node_data ($WHY) during the restore: nothing was replaced; stop it and run the restore again"
fi
if [[ -e $data ]]; then
  mv -T -- "$data" "$before" || backup_die "cannot move $node_data aside to $node_data.before-restore-$BACKUP_TS"
  backup_log "the previous data directory is kept as $node_data.before-restore-$BACKUP_TS"
fi
if ! mv -T -- "$restored" "$data"; then
  if [[ -e $before ]]; then mv -T -- "$before" "$data" || backup_log "ERROR: cannot move $node_data.before-restore-$BACKUP_TS back"; fi
  backup_die "cannot move the restored directory into place as $node_data"
fi
backup_untrack "$restored"
sync -- "$data" "$parent" || backup_log "WARNING: cannot sync $node_data to disk"
backup_metric backup_restore_revision "$revision"
backup_log "restored $copy into $node_data: member $ETCD_RESTORE_NAME advertising $ETCD_RESTORE_PEER_URL, cluster $ETCD_RESTORE_INITIAL_CLUSTER, revision $revision. Start etcd again (kubeadm: mv /etc/kubernetes/manifests.stopped/etcd.yaml /etc/kubernetes/manifests.stopped/kube-apiserver.yaml /etc/kubernetes/manifests/)"
