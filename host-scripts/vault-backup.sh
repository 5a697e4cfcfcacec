#!/usr/bin/env bash
# Vault backup: a raft snapshot through Vault's HTTP API (GET /v1/sys/storage/raft/snapshot), checked
# as the archive Vault itself restores. Interface: CONTRACT.md. curl only (vault-lib.sh), no Vault
# binary in the image; the token never reaches an argument or the log.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"
# shellcheck source=vault-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/vault-lib.sh"

backup_init vault snapshot

prefix=snapshot_
suffix=.snap

vault_check_env

backup_tmpfile "${TMPDIR:-/tmp}" vault-http-status
status_file=$BACKUP_TMP
backup_tmpfile "$BACKUP_DIR" "$prefix$BACKUP_TS$suffix"
backup_log "raft snapshot from $VAULT_ADDR"
rc=0
backup_run vault_curl "$BACKUP_TMP" "$status_file" sys/storage/raft/snapshot || rc=$?
status=$(<"$status_file")
case $rc in
  0) ;;
  18 | 56 | 92) backup_die "the snapshot download was cut short (curl exit $rc, HTTP $status)" ;;
  23) backup_die "Write error: cannot write the snapshot to $BACKUP_DIR (curl exit 23; is the volume full?)" ;;
  47) backup_die "too many redirects from $VAULT_ADDR" ;;
  *) backup_die "cannot download the snapshot from $VAULT_ADDR (curl exit $rc)" ;;
esac
case $status in
  200) ;;
  307 | 308) backup_die "a standby's redirect was not followed to the active node (HTTP $status)" ;;
  403) backup_die "Vault refused the token (HTTP 403: $(vault_error "$BACKUP_TMP"))" ;;
  503) backup_die "Vault is sealed or has no active node (HTTP 503: $(vault_error "$BACKUP_TMP"))" ;;
  *) backup_die "Vault answered HTTP $status: $(vault_error "$BACKUP_TMP")" ;;
esac
vault_verify_snapshot "$BACKUP_TMP"
# The manifest has the common fields only (size and BLAKE2b): counting secrets would need the
# unseal keys.
snapshot=$BACKUP_TMP
backup_manifest_stage "$snapshot" || exit 1
backup_commit "$snapshot" "$BACKUP_DIR" "$prefix" "$suffix"
backup_retention "$BACKUP_DIR" "$prefix" "$suffix"
