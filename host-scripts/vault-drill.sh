#!/usr/bin/env bash
# Vault restore drill (CONTRACT.md, "Restore drills"). No Vault server runs in the drill (the image
# has none, and a raft snapshot restores only into an unsealed Vault with its unseal keys): it
# checks the newest snapshot's bytes against its manifest and the archive's own structure and
# internal checksums (SHA256SUMS over every member, state.bin and meta.json present) only. The
# drill says so in its log; an actual restore stays the runbook's.
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
drill_init vault snapshot
backup_log "Vault: the snapshot's structure and internal checksums are checked; it is not restored into a server"

copy=$(backup_restore_newest '' .snap snapshot_) || backup_die "no copy (snapshot_<timestamp>.snap) in $BACKUP_DIR to drill"
drill_copy_time "$copy"
drill_manifest "$copy"

snap=$BACKUP_DIR/$copy
drill_restore_started
gzip -t -- "$snap" 2>/dev/null || backup_die "$copy is not a valid gzip stream"
members=$(tar -tzf "$snap") || backup_die "$copy is not a readable tar archive"
grep -qx SHA256SUMS <<<"$members" || backup_die "$copy has no SHA256SUMS"
grep -qx state.bin <<<"$members" || backup_die "$copy has no state.bin"
grep -qx meta.json <<<"$members" || backup_die "$copy has no meta.json"
tar -xzOf "$snap" meta.json | jq -e 'type == "object"' >/dev/null 2>&1 || backup_die "the meta.json of $copy is not a JSON object"
sums=$(tar -xzOf "$snap" SHA256SUMS) || backup_die "cannot read SHA256SUMS from $copy"
checked=0
declare -A summed=()
while read -r want name; do
  [[ $want =~ ^[0-9a-f]{64}$ && -n $name ]] || backup_die "malformed SHA256SUMS line in $copy"
  got=$(tar -xzOf "$snap" -- "$name" | sha256sum) || backup_die "cannot read $name from $copy"
  [[ ${got%% *} == "$want" ]] || backup_die "checksum mismatch for $name in $copy"
  summed[$name]=1
  checked=$((checked + 1))
done <<<"$sums"
[[ -n ${summed[state.bin]:-} ]] || backup_die "the state.bin of $copy has no checksum in SHA256SUMS"
drill_restore_finished
backup_log "$copy: $checked members match SHA256SUMS; state.bin $(tar -xzOf "$snap" state.bin | wc -c) bytes"
