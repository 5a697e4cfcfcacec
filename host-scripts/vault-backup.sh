#!/usr/bin/env bash
# Vault backup: `vault operator raft snapshot save`, checked as the archive Vault itself restores.
# Interface: CONTRACT.md. The vault CLI reads VAULT_ADDR and VAULT_TOKEN from the environment; the
# token is never passed as an argument.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"

backup_init vault snapshot
backup_require_env VAULT_ADDR VAULT_TOKEN

prefix=snapshot_
suffix=.snap

# A raft snapshot is a gzip'd tar of meta.json, state.bin, SHA256SUMS and SHA256SUMS.sealed.
# Checking each member against SHA256SUMS is what `vault operator raft snapshot restore` does first;
# the sealed sums need the unseal keys and are not checked here.
verify_snapshot() {
  local f=$1 sums want name got state=0
  [[ -s $f ]] || backup_die "the snapshot is empty"
  gzip -t -- "$f" || backup_die "the snapshot is not a valid gzip stream"
  sums=$(tar -xzOf "$f" SHA256SUMS) || backup_die "the snapshot has no SHA256SUMS"
  [[ -n $sums ]] || backup_die "the snapshot's SHA256SUMS is empty"
  while read -r want name; do
    [[ $want =~ ^[0-9a-f]{64}$ && -n $name ]] || backup_die "malformed SHA256SUMS line"
    got=$(tar -xzOf "$f" -- "$name" | sha256sum) || backup_die "cannot read $name from the snapshot"
    [[ ${got%% *} == "$want" ]] || backup_die "checksum mismatch for $name in the snapshot"
    if [[ $name == state.bin ]]; then state=1; fi
  done <<<"$sums"
  ((state)) || backup_die "the snapshot has no checksummed state.bin"
}

backup_tmpfile "$BACKUP_DIR" "$prefix$BACKUP_TS$suffix"
backup_log "vault operator raft snapshot save from $VAULT_ADDR"
backup_run vault operator raft snapshot save "$BACKUP_TMP" >&2 || backup_die "vault operator raft snapshot save failed"
verify_snapshot "$BACKUP_TMP"
backup_commit "$BACKUP_TMP" "$BACKUP_DIR" "$prefix" "$suffix"
backup_retention "$BACKUP_DIR" "$prefix" "$suffix"
