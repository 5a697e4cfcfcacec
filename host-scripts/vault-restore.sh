#!/usr/bin/env bash
# Vault restore: a raft snapshot copy installed through Vault's HTTP API on the active node
# (POST /v1/sys/storage/raft/snapshot; /snapshot-force only when VAULT_RESTORE_FORCE=yes, for a
# snapshot of another cluster). Interface: the restore contract in CONTRACT.md. curl only
# (vault-lib.sh); the token reaches curl from a file descriptor, never an argument or the log.
#
# A snapshot restore replaces ALL of Vault's data (secrets, policies, auth methods, tokens, leases)
# with the snapshot's: it runs only with RESTORE_OVERWRITE=yes.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"
# shellcheck source=vault-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/vault-lib.sh"

mode=${1:-}
[[ $mode == snapshot ]] || {
  echo "usage: $0 snapshot" >&2
  exit 2
}
backup_restore_init vault snapshot
vault_check_env

force=0
case ${VAULT_RESTORE_FORCE:-} in
  yes) force=1 ;;
  '' | no) ;;
  *) backup_die "VAULT_RESTORE_FORCE must be yes or empty (got '$VAULT_RESTORE_FORCE')" ;;
esac

copy=$(backup_restore_copy '' .snap snapshot_)
file=$BACKUP_DIR/$copy
manifest=$file.manifest.json

# check_copy: the copy's size and BLAKE2b against its manifest (when it has one), then the archive's
# own SHA256SUMS, before a byte is sent: Vault would refuse a damaged archive, but only after the
# operator has been told the restore was on its way.
check_copy() {
  local size bytes digest got
  size=$(stat -c %s -- "$file") || backup_die "cannot read $copy"
  if [[ -f $manifest ]]; then
    jq -e . -- "$manifest" >/dev/null 2>&1 || backup_die "$copy.manifest.json is not valid JSON"
    bytes=$(jq -er '.bytes // empty' -- "$manifest" 2>/dev/null || true)
    digest=$(jq -er '.blake2b // empty' -- "$manifest" 2>/dev/null || true)
    if [[ -n $bytes ]] && ((size != bytes)); then backup_die "$copy has $size bytes, its manifest records $bytes"; fi
    if [[ -n $digest ]]; then
      [[ $digest =~ ^[0-9a-f]+$ && $((${#digest} % 2)) == 0 && ${#digest} -le 128 ]] || backup_die "the manifest's blake2b is not a hex digest"
      got=$(b2sum -l $((${#digest} * 4)) <"$file") || backup_die "cannot read $copy"
      [[ ${got%% *} == "$digest" ]] || backup_die "$copy does not match the BLAKE2b digest of its manifest: the copy changed since it was written"
    fi
    backup_log "$copy matches its manifest ($size bytes${digest:+, BLAKE2b})"
  else
    backup_log "no manifest beside $copy (an older copy): checking the archive alone"
  fi
  vault_verify_snapshot "$file"
  backup_log "$copy is a complete raft snapshot ($size bytes; meta.json and state.bin match its SHA256SUMS)"
}

check_copy
if [[ ${RESTORE_OVERWRITE:-} != yes ]]; then
  backup_die "restoring $copy replaces ALL of Vault's data at $VAULT_ADDR (every secret, policy, auth method, token and lease) with the snapshot's, and tokens issued since then stop working: set RESTORE_OVERWRITE=yes to do that"
fi

path=sys/storage/raft/snapshot
if ((force)); then
  path=sys/storage/raft/snapshot-force
  backup_log "VAULT_RESTORE_FORCE=yes: installing even if the snapshot's unseal keys are not this cluster's (a snapshot of another cluster); Vault then needs the snapshot cluster's unseal keys"
fi

backup_tmpfile "$TMPDIR" vault-http-status || exit 1
status_file=$BACKUP_TMP
backup_tmpfile "$TMPDIR" vault-answer || exit 1
answer=$BACKUP_TMP
backup_log "installing $copy through $VAULT_ADDR/v1/$path"
# POST with the copy as the body, streamed from the read-only volume (-T reads it as it sends, and
# seeks back to its start when a standby's 307 sends the same request to the active node).
rc=0
backup_run vault_curl "$answer" "$status_file" "$path" --request POST --upload-file "$file" \
  --header 'Content-Type: application/octet-stream' || rc=$?
status=$(<"$status_file")
case $rc in
  0) ;;
  47) backup_die "too many redirects from $VAULT_ADDR" ;;
  *) backup_die "cannot send the snapshot to $VAULT_ADDR (curl exit $rc, HTTP ${status:-none}): whether Vault installed it is unknown; check its log before trying again" ;;
esac
case $status in
  200 | 204) ;;
  307 | 308) backup_die "a standby's redirect was not followed to the active node (HTTP $status)" ;;
  400)
    if ((!force)) && [[ $(vault_error "$answer") == *unseal* || $(vault_error "$answer") == *autoseal* ]]; then
      backup_die "Vault refuses $copy: its unseal keys are not this cluster's (a snapshot of another cluster): $(vault_error "$answer"). To install it anyway, set the service's restoreForce: true (or VAULT_RESTORE_FORCE=yes in the Job); Vault is then unsealed with the snapshot cluster's keys"
    fi
    backup_die "Vault refuses $copy (HTTP 400: $(vault_error "$answer"))"
    ;;
  403) backup_die "Vault refused the token (HTTP 403: $(vault_error "$answer")): it needs the update capability on $path" ;;
  503) backup_die "Vault is sealed or has no active node (HTTP 503: $(vault_error "$answer")): unseal it, then restore; nothing was installed" ;;
  *) backup_die "Vault answered HTTP $status: $(vault_error "$answer")" ;;
esac
backup_log "Vault installed $copy: its data is now the snapshot's (tokens and leases included); unseal keys are those of the snapshot's cluster"
