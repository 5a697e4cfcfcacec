#!/usr/bin/env bash
# Layer 1 of the host: LVM thin snapshots of the PVC volumes (Proxmox CSI's vm-<vmid>-pvc-<uuid>).
# Interface: CONTRACT.md, "Host jobs". Settings come from host.env (the policy's host section).
#
#   lvm-pvc-snapshot snapshot                 snapshot every PVC volume (the timer runs this)
#   lvm-pvc-snapshot list                     snapshots per volume, oldest first
#   lvm-pvc-snapshot prune                    delete snapshots past retention (daily-backup runs this)
#   lvm-pvc-snapshot restore LV SNAPSHOT [--dry-run] [--yes]
#                                             roll LV back to SNAPSHOT, keeping LV as <LV>-prerestore-<ts>
#
# Snapshots are named <lv>-snap-<UTC timestamp> and tagged backup_policy_snapshot; prune only ever
# touches LVs with that tag and a name of that form.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/backup-lib.sh"
# shellcheck source=host-lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/host-lib.sh"

usage() {
  sed -n '5,10p' "$(readlink -f "${BASH_SOURCE[0]}")" | sed 's/^# \{0,1\}//' >&2
  exit 64
}

case ${1:-} in
  snapshot | list | prune | restore) ;;
  *) usage ;;
esac
export BACKUP_SERVICE=lvm-pvc-snapshot BACKUP_KIND=$1
host_load_config
host_require LVM_VG LVM_THIN_POOL LVM_LV_PATTERN LVM_SNAPSHOT_RETENTION_SECONDS LVM_SNAPSHOT_FRESH_SECONDS LVM_MIN_FREE_PERCENT
STATUS_FILE="$HOST_STATE_DIR/lvm-pvc-snapshot.last-run"

# --- snapshot ------------------------------------------------------------------------------------

# record_status STATUS: what prune reads to know whether the day's snapshots happened.
record_status() {
  local state=failed tmp
  if (($1 == 0)); then state=ok; fi
  tmp=$(mktemp -- "$STATUS_FILE.XXXXXX") || return 0
  printf '%s %s\n' "$(date +%s)" "$state" >"$tmp" && mv -f -- "$tmp" "$STATUS_FILE"
}

cmd_snapshot() {
  local free volumes lv ns pvc created=0 failed=0 total=0
  host_job_lock lvm-pvc-snapshot
  export BACKUP_DIR=$HOST_STATE_DIR BACKUP_KEEP_LAST=1 BACKUP_KEEP_WITHIN_SECONDS=$LVM_SNAPSHOT_RETENTION_SECONDS
  host_start_job lvm-pvc-snapshot lvm snapshot
  backup_on_exit record_status
  if [[ -n ${BACKUP_DISK:-} && -d $BACKUP_DISK ]]; then host_metric_disk_usage "$BACKUP_DISK"; fi

  host_metric_thin_pool || backup_die "cannot read the free space of $LVM_VG/$LVM_THIN_POOL"
  free=$HOST_THIN_POOL_FREE
  # A thin snapshot costs nothing when taken, but every block the origin rewrites afterwards is a
  # new block in the pool, and a full thin pool stops every VM and PVC on it. Below the floor the
  # run fails (LVMSnapshotFailing) instead of pushing the pool over the edge.
  if awk -v f="$free" -v m="$LVM_MIN_FREE_PERCENT" 'BEGIN { exit !(f < m) }'; then
    backup_die "thin pool $LVM_VG/$LVM_THIN_POOL has $free% free, below the floor of $LVM_MIN_FREE_PERCENT%: no snapshots taken"
  fi

  host_pv_table || backup_die "cannot map volumes to namespaces"
  volumes=$(host_pvc_volumes) || backup_die "cannot list the volumes of $LVM_VG"
  while read -r lv ns pvc; do
    [[ -n $lv ]] || continue
    total=$((total + 1))
    if [[ $ns == _unmapped ]]; then
      backup_log "WARNING: $lv has no PersistentVolume in the cluster's answer; snapshotting it anyway"
    fi
    if lvm_snapshot "$LVM_VG" "$lv" "$lv-snap-$BACKUP_TS" "$HOST_SNAPSHOT_TAG"; then
      backup_log "snapshot $LVM_VG/$lv-snap-$BACKUP_TS of $ns/$pvc"
      created=$((created + 1))
    else
      failed=$((failed + 1))
    fi
  done <<<"$volumes"
  backup_metric backup_snapshots_created "$created"
  backup_metric backup_snapshot_volumes "$total"
  ((total > 0)) || backup_die "no volume in $LVM_VG/$LVM_THIN_POOL matches '$LVM_LV_PATTERN' outside the excluded namespaces"
  ((failed == 0)) || backup_die "$failed of $total snapshots failed"
  backup_log "$created snapshots taken"
}

# --- list ----------------------------------------------------------------------------------------

cmd_list() {
  local snapshots origin ts name now epoch
  snapshots=$(host_snapshots) || exit 1
  now=$(date +%s)
  printf '%-50s %-70s %s\n' VOLUME SNAPSHOT AGE
  while read -r origin ts name; do
    [[ -n $origin ]] || continue
    epoch=$(date -u -d "${ts:0:4}-${ts:4:2}-${ts:6:2}T${ts:9:2}:${ts:11:2}:${ts:13:2}Z" +%s)
    printf '%-50s %-70s %dh\n' "$origin" "$name" $(((now - epoch) / 3600))
  done <<<"$snapshots"
}

# --- prune ---------------------------------------------------------------------------------------

cmd_prune() {
  local status_line when state snapshots origin ts name cutoff removed=0 failed=0
  local -a rows=()
  host_job_lock_wait lvm-pvc-snapshot 3600
  # Never prune after a failed or missing snapshot run: the old snapshots are then the newest
  # good ones (the incident behind design.md's retention rule, in block form).
  [[ -r $STATUS_FILE ]] || backup_die "no snapshot run recorded in $STATUS_FILE; not pruning"
  status_line=$(<"$STATUS_FILE")
  read -r when state <<<"$status_line"
  [[ $when =~ ^[0-9]+$ && $state == ok ]] || backup_die "the last snapshot run failed ($status_line); not pruning"
  (($(date +%s) - when <= LVM_SNAPSHOT_FRESH_SECONDS)) ||
    backup_die "the last successful snapshot run is older than $LVM_SNAPSHOT_FRESH_SECONDS s; not pruning"

  cutoff=$(date -u -d "@$(($(date +%s) - LVM_SNAPSHOT_RETENTION_SECONDS))" +%Y%m%dT%H%M%SZ)
  snapshots=$(host_snapshots) || exit 1
  mapfile -t rows <<<"$snapshots"
  # Rows are sorted by origin, then time: the last row of each origin is its newest snapshot.
  local i next_origin
  for ((i = 0; i < ${#rows[@]}; i++)); do
    read -r origin ts name <<<"${rows[i]}"
    [[ -n $origin ]] || continue
    next_origin=''
    if ((i + 1 < ${#rows[@]})); then read -r next_origin _ <<<"${rows[i + 1]}"; fi
    # Never the newest per volume, however old: it is the last good copy of that volume.
    [[ $next_origin == "$origin" ]] || continue
    if [[ $ts < $cutoff ]]; then
      if lvm_remove "$LVM_VG" "$name"; then
        backup_log "pruned $LVM_VG/$name"
        removed=$((removed + 1))
      else
        failed=$((failed + 1))
      fi
    fi
  done
  backup_log "prune: $removed snapshots removed"
  ((failed == 0)) || backup_die "$failed snapshots could not be removed"
}

# --- restore -------------------------------------------------------------------------------------

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 2 s until it succeeds.
wait_until() {
  local deadline=$(($(date +%s) + $1)) what=$2
  shift 2
  until "$@"; do
    (($(date +%s) < deadline)) || {
      backup_log "ERROR: timed out waiting for $what"
      return 1
    }
    sleep 2
  done
}

no_pods_using() {
  local pods
  pods=$(k8s_pods_using "$1" "$2") || return 1
  [[ -z $pods ]]
}

lv_not_open() {
  local attr
  attr=$(host_lv_field "$LVM_VG" "$1" attr) || return 1
  # The sixth attribute character is "o" while a device (a VM disk, a mount) holds the LV open.
  [[ ${attr:5:1} != o ]]
}

cmd_restore() {
  local lv='' snap='' dry_run=0 yes=0 arg tags ns pvc workloads line kind_name replicas claims
  local -a scaled=() scaled_replicas=()
  for arg in "$@"; do
    case $arg in
      --dry-run) dry_run=1 ;;
      --yes) yes=1 ;;
      -*) usage ;;
      *) if [[ -z $lv ]]; then lv=$arg; elif [[ -z $snap ]]; then snap=$arg; else usage; fi ;;
    esac
  done
  [[ -n $lv && -n $snap ]] || usage
  host_job_lock lvm-pvc-snapshot
  export BACKUP_TS
  BACKUP_TS=$(date -u +%Y%m%dT%H%M%SZ)

  # The snapshot must be one of ours, of this volume; the volume a live PVC volume.
  tags=$(host_lv_field "$LVM_VG" "$snap" tags) || backup_die "$LVM_VG/$snap does not exist"
  host_has_tag "$tags" "$HOST_SNAPSHOT_TAG" || backup_die "$LVM_VG/$snap is not a snapshot made by lvm-pvc-snapshot"
  if ! host_snapshot_parse "$snap" || [[ $HOST_SNAP_ORIGIN != "$lv" ]]; then
    backup_die "$snap is not a snapshot of $lv"
  fi
  tags=$(host_lv_field "$LVM_VG" "$lv" tags) || backup_die "$LVM_VG/$lv does not exist"
  if host_has_tag "$tags" "$HOST_SNAPSHOT_TAG" || host_has_tag "$tags" "$HOST_PRERESTORE_TAG"; then
    backup_die "$LVM_VG/$lv is a snapshot or pre-restore copy, not a PVC volume"
  fi

  # Restoring under a running workload would corrupt it: the live cluster must say who uses it.
  k8s_pv_list >/dev/null || backup_die "the cluster is unreachable; restore needs it to stop the workload"
  host_pv_table
  [[ -n ${HOST__PV[$lv]:-} ]] || backup_die "no PersistentVolume uses $lv"
  read -r ns pvc <<<"${HOST__PV[$lv]}"
  workloads=$(k8s_workloads "$ns") || backup_die "cannot list the workloads of namespace $ns"
  while IFS=$'\t' read -r kind_name replicas claims; do
    [[ -n $kind_name ]] || continue
    local claim match=0
    for claim in $claims; do
      if [[ $claim == "$pvc" ]]; then match=1; fi
      # A StatefulSet's claim template <t> names its PVCs <t>-<statefulset>-<ordinal>.
      if [[ $claim == template:* && $pvc =~ ^${claim#template:}-${kind_name#*/}-[0-9]+$ ]]; then match=1; fi
    done
    if ((match)); then
      scaled+=("$kind_name")
      scaled_replicas+=("${replicas:-1}")
    fi
  done <<<"$workloads"

  local new_name="$lv-prerestore-$BACKUP_TS"
  {
    printf 'Restore of %s/%s (PVC %s/%s) from %s:\n' "$LVM_VG" "$lv" "$ns" "$pvc" "$snap"
    for i in "${!scaled[@]}"; do printf '  scale %s in %s from %s to 0 replicas\n' "${scaled[i]}" "$ns" "${scaled_replicas[i]}"; done
    printf '  wait until no pod uses %s and the volume is closed\n' "$pvc"
    printf '  rename %s/%s to %s (kept: remove it with lvremove once the restore is verified)\n' "$LVM_VG" "$lv" "$new_name"
    printf '  create %s/%s as a new thin snapshot of %s (the snapshot itself stays)\n' "$LVM_VG" "$lv" "$snap"
    for i in "${!scaled[@]}"; do printf '  scale %s back to %s replicas\n' "${scaled[i]}" "${scaled_replicas[i]}"; done
  } >&2
  if ((dry_run)); then
    backup_log "dry run: nothing changed"
    return 0
  fi
  if ((!yes)); then
    [[ -t 0 ]] || backup_die "refusing to restore without confirmation: run in a terminal or pass --yes"
    printf 'Type the volume name (%s) to go ahead: ' "$lv" >&2
    IFS= read -r line || line=''
    [[ $line == "$lv" ]] || backup_die "not confirmed; nothing changed"
  fi

  for i in "${!scaled[@]}"; do
    k8s_scale "$ns" "${scaled[i]}" 0 || backup_die "cannot scale ${scaled[i]} down; scale it back to ${scaled_replicas[i]} by hand"
  done
  scale_back() {
    local j
    for j in "${!scaled[@]}"; do
      k8s_scale "$ns" "${scaled[j]}" "${scaled_replicas[j]}" ||
        backup_log "ERROR: could not scale ${scaled[j]} back to ${scaled_replicas[j]}; do it by hand"
    done
  }
  # RESTORE_WAIT_SECONDS: how long each wait may take (a slow pod shutdown, a CSI detach).
  if ! wait_until "${RESTORE_WAIT_SECONDS:-300}" "the pods using $pvc to stop" no_pods_using "$ns" "$pvc" ||
    ! wait_until "${RESTORE_WAIT_SECONDS:-300}" "$LVM_VG/$lv to be closed (detached from its VM)" lv_not_open "$lv"; then
    scale_back
    backup_die "the volume is still in use; nothing changed"
  fi

  if ! lvm_rename "$LVM_VG" "$lv" "$new_name"; then
    scale_back
    backup_die "nothing changed"
  fi
  lvm_change "$LVM_VG" "$new_name" --addtag "$HOST_PRERESTORE_TAG" ||
    backup_log "WARNING: $new_name is not tagged; the snapshot job would treat it as a volume"
  # A snapshot of the snapshot: the chosen snapshot stays available for a second attempt.
  if ! lvm_snapshot "$LVM_VG" "$snap" "$lv"; then
    if ! lvm_rename "$LVM_VG" "$new_name" "$lv" || ! lvm_change "$LVM_VG" "$lv" --deltag "$HOST_PRERESTORE_TAG"; then
      backup_log "ERROR: could not rename $new_name back to $lv; do it by hand before scaling up"
    fi
    scale_back
    backup_die "creating $lv from $snap failed; the original volume is back in place"
  fi
  # Thin snapshots skip activation by default; the restored volume must activate like any disk,
  # and it must not look like one of our snapshots (lvcreate does not copy tags, this is a guard).
  lvm_change "$LVM_VG" "$lv" --setactivationskip n || backup_log "WARNING: activation skip flag still set on $lv"
  tags=$(host_lv_field "$LVM_VG" "$lv" tags) || tags=''
  if host_has_tag "$tags" "$HOST_SNAPSHOT_TAG"; then lvm_change "$LVM_VG" "$lv" --deltag "$HOST_SNAPSHOT_TAG" || true; fi
  scale_back
  backup_log "restored $LVM_VG/$lv from $snap; the previous contents are $LVM_VG/$new_name"
}

case ${1:-} in
  snapshot) cmd_snapshot ;;
  list) cmd_list ;;
  prune) cmd_prune ;;
  restore)
    shift
    cmd_restore "$@"
    ;;
esac
