# shellcheck shell=bash
# Host-only library of the Proxmox host jobs (lvm-pvc-snapshot, daily-backup, offsite-sync-backup,
# nfs-change-tracker). Sourced after backup-lib.sh, whose contract (atomic commit, verification,
# retention, metrics, EXIT trap) the host jobs share with the in-cluster ones. Interface:
# CONTRACT.md, "Host jobs".
#
# Same error style as backup-lib.sh: every function reports failure through its return status and
# logs why; none relies on `set -e` inside (bash ignores errexit in functions called from `if`,
# `||` or `&&`, which is how the jobs call their steps).

HOST__JOB_LOCK_FD=''     # this run's job lock (held until exit)
HOST__MOUNTS=()          # mount points this run mounted, unmounted on exit
HOST__ACTIVATED=()       # VG/LV this run activated, deactivated on exit
HOST__CHANGELOG_FD=''    # lock of the change log (nfs-change-tracker and offsite-sync-backup)
declare -gA HOST__PV=()  # LV name -> "namespace pvc", filled by host_pv_table

# Tags mark what the jobs created, so nothing else is ever pruned or mistaken for a PVC volume.
# (A name alone cannot tell: "vm-*-pvc-*" also matches "vm-1-pvc-x-snap-...".)
HOST_SNAPSHOT_TAG=backup_policy_snapshot
HOST_PRERESTORE_TAG=backup_policy_prerestore
HOST_DNS_LABEL='^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'

# --- configuration -----------------------------------------------------------------------------

# host_load_config: reads host.env (rendered from the policy's host section) into the environment.
# The file is parsed, never sourced: a value is data up to the end of its line. A variable that is
# already set and non-empty wins, so an operator can override one setting for a manual run.
host_load_config() {
  local file=${BACKUP_POLICY_HOST_CONFIG:-/etc/backup-policy/host.env} line n=0 key value
  [[ -r $file ]] || backup_die "cannot read the host configuration $file (rendered from the policy's host section)"
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    [[ -z $line || $line == '#'* ]] && continue
    [[ $line =~ ^([A-Z][A-Z0-9_]*)=(.*)$ ]] || backup_die "$file:$n: not a KEY=value line"
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    if [[ -z ${!key:-} ]]; then export "$key=$value"; fi
  done <"$file"
  # Week folders, "first Sunday" and log times follow the host's declared zone, like OnCalendar.
  if [[ -n ${HOST_TIME_ZONE:-} ]]; then export TZ=$HOST_TIME_ZONE; fi
  : "${HOST_STATE_DIR:=/var/lib/backup-policy}"
  # kubectl writes a discovery cache under ~/.kube, which the units mount read-only.
  export KUBECACHEDIR=$HOST_STATE_DIR/kube-cache
}

# host_require VAR...: each must be set and non-empty in host.env.
host_require() {
  local name
  for name in "$@"; do
    [[ -n ${!name:-} ]] || backup_die "$name is not set in the host configuration"
  done
}

# host_job_lock NAME: one run of NAME at a time. Taken before backup_init arms the EXIT trap, so a
# second run exits (status 75) without pushing a status, unmounting or deleting anything: every
# one of those belongs to the run that holds the lock.
host_job_lock() {
  local dir="$HOST_STATE_DIR/locks"
  mkdir -p -- "$dir" || backup_die "cannot create $dir"
  exec {HOST__JOB_LOCK_FD}>>"$dir/$1.lock" || backup_die "cannot open $dir/$1.lock"
  if ! flock -n "$HOST__JOB_LOCK_FD"; then
    backup_log "another $1 run holds $dir/$1.lock; exiting without touching it"
    exit 75
  fi
}

# host_job_lock_wait NAME SECONDS: like host_job_lock, but waits (a prune called by the daily
# backup waits for a snapshot run that is still going).
host_job_lock_wait() {
  local dir="$HOST_STATE_DIR/locks"
  mkdir -p -- "$dir" || backup_die "cannot create $dir"
  exec {HOST__JOB_LOCK_FD}>>"$dir/$1.lock" || backup_die "cannot open $dir/$1.lock"
  flock -w "$2" "$HOST__JOB_LOCK_FD" || backup_die "another $1 run held $dir/$1.lock for more than $2 s"
}

# host_start_job SERVICE ENGINE KIND: the backup-lib start (labels, EXIT trap, metrics) for a host
# job. BACKUP_DIR and the retention variables must be set by the caller.
host_start_job() {
  export BACKUP_SERVICE=$1 BACKUP_ENGINE=$2 BACKUP_KIND=$3 BACKUP_RUNNER=host
  export TMPDIR=${TMPDIR:-/tmp}
  export BACKUP_MIN_SIZE_RATIO=${BACKUP_MIN_SIZE_RATIO:-0}
  backup_init "$2" "$3"
  # First of the exit hooks, so that whatever a job registers later finds its mounts gone (the
  # running step was stopped before the hooks run: nothing reads from them any more).
  backup_on_exit host__release
}

# host_run CMD...: backup_run (the step can be stopped by a signal) with its status.
host_run() {
  backup_run "$@"
}

# --- mounts ------------------------------------------------------------------------------------

# host_mount_ro DEVICE DIR: mounts a snapshot read-only, never executable. ext4 replays its
# journal into the (writable, thin) snapshot device even on a read-only mount, which is what gives
# a consistent view of a crash-consistent snapshot; the origin is never written. XFS refuses a
# second filesystem with the same UUID unless told `nouuid`.
host_mount_ro() {
  local dev=$1 dir=$2 fstype opts=ro,nodev,nosuid,noexec
  fstype=$(blkid -o value -s TYPE -- "$dev" 2>/dev/null) || fstype=''
  if [[ $fstype == xfs ]]; then opts+=,nouuid; fi
  mkdir -p -- "$dir" || return 1
  if ! mount -o "$opts" -- "$dev" "$dir"; then
    backup_log "ERROR: cannot mount $dev (${fstype:-unknown filesystem}) on $dir"
    return 1
  fi
  HOST__MOUNTS+=("$dir")
}

# host_unmount DIR: unmounts one of this run's mounts (retrying while a killed reader exits).
host_unmount() {
  local dir=$1 i keep=()
  for ((i = 0; i < 10; i++)); do
    if umount -- "$dir" 2>/dev/null; then break; fi
    sleep 0.5
  done
  if mountpoint -q -- "$dir"; then
    # Lazy: the mount leaves the namespace now and goes away when the last reader does.
    backup_log "WARNING: $dir is busy; detaching it lazily"
    umount -l -- "$dir" || {
      backup_log "ERROR: cannot unmount $dir"
      return 1
    }
  fi
  rmdir -- "$dir" 2>/dev/null || true
  for i in "${HOST__MOUNTS[@]}"; do
    [[ $i == "$dir" ]] || keep+=("$i")
  done
  HOST__MOUNTS=("${keep[@]}")
}

host__release() {
  local i vglv
  for ((i = ${#HOST__MOUNTS[@]} - 1; i >= 0; i--)); do
    host_unmount "${HOST__MOUNTS[i]}" || true
  done
  for ((i = ${#HOST__ACTIVATED[@]} - 1; i >= 0; i--)); do
    vglv=${HOST__ACTIVATED[i]}
    lvm_deactivate "${vglv%%/*}" "${vglv#*/}" || backup_log "WARNING: could not deactivate $vglv"
  done
  HOST__ACTIVATED=()
}

# --- LVM: every call of an LVM tool is in this section -------------------------------------------
# The tests put a stateful fake of these five tools on PATH (test/fakes/lvm/, which lists
# what it does not model); keeping the calls here keeps the surface it has to match small.

# lvm_lvs VG: one line per LV, "name|pool|origin|attr|tags|path", lvs' padding removed.
lvm_lvs() {
  local out line
  out=$(lvs --noheadings --separator '|' -o lv_name,pool_lv,origin,lv_attr,lv_tags,lv_path -- "$1") || {
    backup_log "ERROR: lvs $1 failed"
    return 1
  }
  while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"}
    if [[ -n $line ]]; then printf '%s\n' "$line"; fi
  done <<<"$out"
}

# lvm_pool_free_percent VG POOL: free space of the thin pool in percent, the lower of data and
# metadata (either one running full stops every volume in the pool).
lvm_pool_free_percent() {
  local out data meta
  out=$(lvs --noheadings --separator '|' -o data_percent,metadata_percent -- "$1/$2") || {
    backup_log "ERROR: lvs $1/$2 failed"
    return 1
  }
  out=${out//[[:space:]]/}
  data=${out%%|*}
  meta=${out#*|}
  [[ $data =~ ^[0-9]+(\.[0-9]+)?$ && $meta =~ ^[0-9]+(\.[0-9]+)?$ ]] || {
    backup_log "ERROR: $1/$2 is not a thin pool (lvs reported '$out')"
    return 1
  }
  awk -v d="$data" -v m="$meta" 'BEGIN { u = d > m ? d : m; printf "%.2f\n", 100 - u }'
}

# lvm_snapshot VG ORIGIN NAME [TAG]: a thin snapshot (no size: it shares the origin's pool).
lvm_snapshot() {
  local tag=()
  if [[ -n ${4:-} ]]; then tag=(--addtag "$4"); fi
  lvcreate -s -n "$3" "${tag[@]}" -- "$1/$2" >&2 || {
    backup_log "ERROR: lvcreate of snapshot $1/$3 from $1/$2 failed"
    return 1
  }
}

lvm_remove() {
  lvremove -y -- "$1/$2" >&2 || {
    backup_log "ERROR: lvremove $1/$2 failed"
    return 1
  }
}

lvm_rename() {
  lvrename -- "$1" "$2" "$3" >&2 || {
    backup_log "ERROR: lvrename $1/$2 to $3 failed"
    return 1
  }
}

# lvm_activate VG LV: -K because thin snapshots carry the activation-skip flag; without it
# `lvchange -ay` succeeds and activates nothing.
lvm_activate() {
  lvchange -ay -K -- "$1/$2" >&2 || {
    backup_log "ERROR: cannot activate $1/$2"
    return 1
  }
}

# lvm_deactivate VG LV: retried, because right after an unmount udev may still hold the device
# open for its probe, and LVM refuses with "in use" for that moment.
lvm_deactivate() {
  local i
  for ((i = 1; i <= 5; i++)); do
    if lvchange -an -- "$1/$2" >&2; then return 0; fi
    sleep 1
  done
  backup_log "ERROR: cannot deactivate $1/$2"
  return 1
}

# lvm_change VG LV OPTION...: tags and flags (--addtag, --deltag, --setactivationskip).
lvm_change() {
  local vg=$1 lv=$2
  shift 2
  lvchange "$@" -- "$vg/$lv" >&2 || {
    backup_log "ERROR: lvchange $* $vg/$lv failed"
    return 1
  }
}

# --- Kubernetes: every kubectl call is in this section ---------------------------------------------
# Proxmox CSI names a PVC's LV vm-<vmid>-pvc-<uuid>; only the cluster knows the claim behind it.

K8S_TIMEOUT=(--request-timeout=30s)

# k8s_pv_list: "volumeHandle<TAB>namespace<TAB>claim" for every PersistentVolume.
k8s_pv_list() {
  kubectl "${K8S_TIMEOUT[@]}" get persistentvolumes -o \
    'jsonpath={range .items[*]}{.spec.csi.volumeHandle}{"\t"}{.spec.claimRef.namespace}{"\t"}{.spec.claimRef.name}{"\n"}{end}'
}

# k8s_workloads NS: "Kind/name<TAB>replicas<TAB>claims..." for the Deployments and StatefulSets of
# NS; claims are the pod template's PVCs plus "template:<name>" for StatefulSet claim templates.
k8s_workloads() {
  kubectl "${K8S_TIMEOUT[@]}" -n "$1" get deployments,statefulsets -o \
    'jsonpath={range .items[*]}{.kind}/{.metadata.name}{"\t"}{.spec.replicas}{"\t"}{range .spec.template.spec.volumes[*]}{.persistentVolumeClaim.claimName}{" "}{end}{range .spec.volumeClaimTemplates[*]}template:{.metadata.name}{" "}{end}{"\n"}{end}'
}

# k8s_pods_using NS CLAIM: the names of pods in NS that mount CLAIM.
k8s_pods_using() {
  local out line pod claims
  out=$(kubectl "${K8S_TIMEOUT[@]}" -n "$1" get pods -o \
    'jsonpath={range .items[*]}{.metadata.name}{"\t"}{range .spec.volumes[*]}{.persistentVolumeClaim.claimName}{" "}{end}{"\n"}{end}') || return 1
  while IFS=$'\t' read -r pod claims; do
    [[ -n $pod ]] || continue
    line=" $claims "
    if [[ $line == *" $2 "* ]]; then printf '%s\n' "$pod"; fi
  done <<<"$out"
}

# k8s_scale NS KIND/NAME REPLICAS
k8s_scale() {
  kubectl "${K8S_TIMEOUT[@]}" -n "$1" scale "$2" --replicas="$3" >&2
}

# host_pv_table: fills HOST__PV (LV name -> "namespace pvc") from the cluster, and keeps a copy:
# when the API is unreachable the last known map is used, so the host layers keep working while the
# cluster is down (which is when they matter most).
host_pv_table() {
  local cache="$HOST_STATE_DIR/pv-map.tsv" out handle ns claim lv tmp
  HOST__PV=()
  if out=$(k8s_pv_list); then
    tmp=$(mktemp -- "$cache.XXXXXX") || return 1
    if ! { printf '%s\n' "$out" >"$tmp" && mv -f -- "$tmp" "$cache"; }; then
      rm -f -- "$tmp"
      backup_log "WARNING: could not keep a copy of the PersistentVolume map in $cache"
    fi
  elif [[ -r $cache ]]; then
    backup_log "WARNING: kubectl cannot list PersistentVolumes; using the copy from $(date -r "$cache" +%FT%T%z)"
    out=$(<"$cache")
  else
    backup_log "WARNING: kubectl cannot list PersistentVolumes and no earlier copy exists; namespaces are unknown"
    out=''
  fi
  while IFS=$'\t' read -r handle ns claim; do
    [[ -n $handle ]] || continue
    lv=${handle##*/}
    # Names become path components of the backup: only DNS labels, never "..".
    if [[ $ns =~ $HOST_DNS_LABEL && $claim =~ ^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$ ]]; then
      HOST__PV[$lv]="$ns $claim"
    fi
  done <<<"$out"
}

# host_excluded NAMESPACE: listed in LVM_EXCLUDE_NAMESPACES.
host_excluded() {
  local ns
  for ns in ${LVM_EXCLUDE_NAMESPACES:-}; do
    [[ $ns == "$1" ]] && return 0
  done
  return 1
}

# host_has_tag TAGS TAG: TAGS is lvs' comma-separated list.
host_has_tag() {
  [[ ,$1, == *",$2,"* ]]
}

# host_pvc_volumes: "lv namespace pvc" for each PVC volume to protect: name matches LVM_LV_PATTERN,
# thin volume of LVM_THIN_POOL, not made by these jobs, namespace not excluded. Call host_pv_table
# first. A volume the cluster does not know is protected under namespace "_unmapped" (an unknown
# namespace cannot be excluded, and a spare snapshot is cheaper than a missing one).
host_pvc_volumes() {
  local lines name pool origin attr tags path ns pvc
  lines=$(lvm_lvs "$LVM_VG") || return 1
  while IFS='|' read -r name pool origin attr tags path; do
    [[ -n $name ]] || continue
    # The pattern is a glob from the policy (schema: LVM name characters, * and ?).
    # shellcheck disable=SC2053
    [[ $name == $LVM_LV_PATTERN && $pool == "$LVM_THIN_POOL" ]] || continue
    if host_has_tag "$tags" "$HOST_SNAPSHOT_TAG" || host_has_tag "$tags" "$HOST_PRERESTORE_TAG"; then continue; fi
    if [[ -n ${HOST__PV[$name]:-} ]]; then
      read -r ns pvc <<<"${HOST__PV[$name]}"
    else
      ns=_unmapped
      pvc=$name
    fi
    if host_excluded "$ns"; then continue; fi
    printf '%s %s %s\n' "$name" "$ns" "$pvc"
  done <<<"$lines"
}

# host_snapshot_parse NAME: sets HOST_SNAP_ORIGIN and HOST_SNAP_TS from "<lv>-snap-<ts>".
host_snapshot_parse() {
  [[ $1 =~ ^(.+)-snap-([0-9]{8}T[0-9]{6}Z)$ ]] || return 1
  HOST_SNAP_ORIGIN=${BASH_REMATCH[1]}
  HOST_SNAP_TS=${BASH_REMATCH[2]}
}

# host_snapshots: "origin ts name" for every snapshot these jobs made, oldest first per origin
# (the timestamps are fixed-width UTC, so sorting the text sorts by time).
host_snapshots() {
  local lines name pool origin attr tags path
  lines=$(lvm_lvs "$LVM_VG") || return 1
  while IFS='|' read -r name pool origin attr tags path; do
    [[ -n $name ]] || continue
    host_has_tag "$tags" "$HOST_SNAPSHOT_TAG" || continue
    host_snapshot_parse "$name" || continue
    printf '%s %s %s\n' "$HOST_SNAP_ORIGIN" "$HOST_SNAP_TS" "$name"
  done <<<"$lines" | sort
}

# host_lv_field VG LV FIELD: one column of lvm_lvs for one LV (name pool origin attr tags path).
host_lv_field() {
  local lines name pool origin attr tags path
  lines=$(lvm_lvs "$1") || return 1
  while IFS='|' read -r name pool origin attr tags path; do
    [[ $name == "$2" ]] || continue
    case $3 in
      pool) printf '%s\n' "$pool" ;;
      origin) printf '%s\n' "$origin" ;;
      attr) printf '%s\n' "$attr" ;;
      tags) printf '%s\n' "$tags" ;;
      path) printf '%s\n' "$path" ;;
      *) return 1 ;;
    esac
    return 0
  done <<<"$lines"
  return 1
}

# --- metrics -------------------------------------------------------------------------------------

# host_metric_disk_usage DIR: backup_disk_usage_percent, for BackupDiskFull.
host_metric_disk_usage() {
  local pct
  pct=$(df --output=pcent -- "$1" | tail -n 1) || return 0
  pct=${pct//[^0-9]/}
  if [[ -n $pct ]]; then backup_metric backup_disk_usage_percent "$pct"; fi
}

# host_metric_thin_pool: backup_thin_pool_free_percent, for LVMThinPoolLow; also sets
# HOST_THIN_POOL_FREE. (Not printed: a metric added inside $(...) would be lost with the subshell.)
host_metric_thin_pool() {
  HOST_THIN_POOL_FREE=$(lvm_pool_free_percent "$LVM_VG" "$LVM_THIN_POOL") || return 1
  backup_metric backup_thin_pool_free_percent "$HOST_THIN_POOL_FREE"
}

# --- time ---------------------------------------------------------------------------------------

# host_iso_week [EPOCH]: "YYYY-WW" (ISO 8601 year and week, in the host's zone).
host_iso_week() {
  date -d "@${1:-$(date +%s)}" +%G-%V
}

# host_is_first_sunday [YYYY-MM-DD]: the date (default today) is the month's first Sunday.
host_is_first_sunday() {
  local day dow
  day=$(date -d "${1:-today}" +%d) || return 2
  dow=$(date -d "${1:-today}" +%u) || return 2
  [[ $dow == 7 ]] && ((10#$day <= 7))
}

# --- the change log (nfs-change-tracker writes, offsite-sync-backup rotates) ------------------------
# CHANGE_LOG holds NUL-terminated absolute paths. Beside it:
#   .lock            serializes every append, rotation and restore
#   .tracker         held (flock) by the tracker while it runs: free means events are being lost
#   .full-sync       the tracker lost events (queue overflow, restart): the next sync must be full
#   .pending         the rotated log a sync is working from; merged back if the sync fails
#   .full-sync.pending  the flag a sync is working from, restored if it fails

host_changelog_lock() {
  if [[ -z $HOST__CHANGELOG_FD ]]; then
    exec {HOST__CHANGELOG_FD}>>"$CHANGE_LOG.lock" || return 1
  fi
  flock -w 120 "$HOST__CHANGELOG_FD" || {
    backup_log "ERROR: could not lock $CHANGE_LOG.lock within 120 s"
    return 1
  }
}

host_changelog_unlock() {
  flock -u "$HOST__CHANGELOG_FD"
}
