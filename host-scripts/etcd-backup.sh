#!/usr/bin/env bash
# etcd backup: `etcdctl snapshot save`, proved restorable, then zstd.
# Interface: CONTRACT.md. TLS material comes from ETCDCTL_CACERT/CERT/KEY (files mounted from a
# Secret), which etcdctl reads from the environment.
# The restore check writes a full copy of the keyspace under TMPDIR: size that volume for it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"

backup_init etcd snapshot
backup_require_env ETCDCTL_ENDPOINTS
export ETCDCTL_API=3

prefix=snapshot_
suffix=.db.zst
backup_tmpdir "$BACKUP_DIR" "$prefix$BACKUP_TS"
rawdir=$BACKUP_TMP
raw="$rawdir/snapshot.db"

# A snapshot is taken from exactly one member; etcdctl refuses a list. Members are tried in turn
# so that one member being down does not cost the backup. etcdctl 3.4's `snapshot save` waits
# forever for an unreachable member, so each one is first probed with `endpoint health`, which
# gives up after --command-timeout (ETCDCTL_COMMAND_TIMEOUT, default 5s). A member that dies during
# the transfer is left to the Job's activeDeadlineSeconds.
IFS=', ' read -r -a endpoints <<<"$ETCDCTL_ENDPOINTS"
saved=0
for endpoint in "${endpoints[@]}"; do
  [[ -n $endpoint ]] || continue
  if ! ETCDCTL_ENDPOINTS=$endpoint backup_run etcdctl endpoint health >&2; then
    backup_log "WARNING: $endpoint is not healthy; trying the next member"
    continue
  fi
  backup_log "etcdctl snapshot save from $endpoint"
  if ETCDCTL_ENDPOINTS=$endpoint backup_run etcdctl snapshot save "$raw" >&2; then
    saved=1
    break
  fi
  backup_log "WARNING: snapshot from $endpoint failed"
  rm -f -- "$raw" "$raw.part"
done
((saved)) || backup_die "no endpoint produced a snapshot"

# The manifest's counts: the snapshot's revision from the file itself; the keys a restore yields
# (live keys at that revision) from the member the snapshot came from, read at exactly that
# revision, which MVCC keeps until a compaction passes it. `snapshot status`'s totalKey is no key
# count: it counts every stored revision of every key and etcd's own records. (etcdctl 3.5 says
# `snapshot status` moves to etcdutl; the image has no etcdutl.)
etcd_counts() {
  local status revision count
  status=$(etcdctl snapshot status -w json "$raw" 2>/dev/null) || return 1
  revision=$(jq -er '.revision | select(type == "number" and . > 0)' <<<"$status") || return 1
  count=$(ETCDCTL_ENDPOINTS=$endpoint backup_run etcdctl get '' --from-key --keys-only --limit=1 --rev="$revision" -w json) || {
    backup_log "ERROR: $endpoint cannot list the keys at revision $revision (compacted since the snapshot?)"
    return 1
  }
  count=$(jq -er '.count // 0 | select(type == "number")' <<<"$count") || return 1
  jq -n --argjson keys "$count" --argjson revision "$revision" '{etcd: {keys: $keys, revision: $revision}}'
}
backup_tmpfile "$TMPDIR" etcd-counts || exit 1
counts=$BACKUP_TMP
counts_failed=0
etcd_counts >"$counts" || counts_failed=1

# `etcdctl snapshot status` exits 0 on a corrupted file; restore checks the sha256 that
# `snapshot save` appends and rebuilds the whole bbolt database, so it is the real proof.
backup_tmpdir "$TMPDIR" etcd-restore-check
scratch=$BACKUP_TMP
etcdctl snapshot restore "$raw" --data-dir "$scratch/data" >&2 ||
  backup_die "etcdctl snapshot restore rejects the snapshot"
backup_discard "$scratch"
backup_log "snapshot restores cleanly"

backup_tmpfile "$BACKUP_DIR" "$prefix$BACKUP_TS$suffix"
copy=$BACKUP_TMP
zstd -T0 -q -c -- "$raw" >"$copy" || backup_die "zstd failed"
backup_check_zstd "$copy"
backup_discard "$rawdir"
backup_manifest_stage "$copy" || exit 1
if ((counts_failed)); then
  backup_manifest_skip "$copy" "cannot count the snapshot's keys for its manifest"
else
  mv -f -- "$counts" "$BACKUP_MANIFEST_SECTIONS" || exit 1
fi
backup_commit "$copy" "$BACKUP_DIR" "$prefix" "$suffix"
backup_retention "$BACKUP_DIR" "$prefix" "$suffix"
