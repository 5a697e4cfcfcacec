#!/usr/bin/env bash
# Vault backup: a raft snapshot through Vault's HTTP API (GET /v1/sys/storage/raft/snapshot), checked
# as the archive Vault itself restores. Interface: CONTRACT.md. curl only, no Vault binary in the
# image. The token reaches curl as a header read from stdin, never as an argument.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"

backup_init vault snapshot
backup_require_env VAULT_ADDR VAULT_TOKEN

prefix=snapshot_
suffix=.snap

# A token with a line break would smuggle a second header into the request.
[[ $VAULT_TOKEN != *[$'\r\n']* ]] || backup_die "VAULT_TOKEN contains a line break"
[[ $VAULT_ADDR =~ ^https?://[^/?#]+/?$ ]] || backup_die "VAULT_ADDR must be http(s)://host[:port], got ${VAULT_ADDR%%\?*}"
url=${VAULT_ADDR%/}/v1/sys/storage/raft/snapshot

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

# Vault's error answers are JSON {"errors":[...]}; the first message, on one line, is enough.
vault_error() {
  local msg
  msg=$(head -c 2048 -- "$1" | tr -d '\r\n\t' | sed -n 's/.*"errors":\["\([^"]*\)".*/\1/p')
  printf '%s' "${msg:-no error message}"
}

backup_tmpfile "${TMPDIR:-/tmp}" vault-http-status
status_file=$BACKUP_TMP
backup_tmpfile "$BACKUP_DIR" "$prefix$BACKUP_TS$suffix"
backup_log "raft snapshot from $VAULT_ADDR"
# -L follows a standby's 307 to the active node; curl keeps custom headers (X-Vault-Token) across
# the redirect, as the Vault CLI does. Protocols are limited so a redirect cannot leave HTTP(S).
# The header comes from a here-string on fd 3 (bash feeds it through a pipe or a deleted file).
rc=0
backup_run curl --silent --show-error --location --max-redirs 3 \
  --proto '=http,https' --proto-redir '=http,https' --connect-timeout 10 \
  --header @/dev/fd/3 --output "$BACKUP_TMP" --write-out '%{http_code}' -- "$url" \
  3<<<"X-Vault-Token: $VAULT_TOKEN" >"$status_file" || rc=$?
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
verify_snapshot "$BACKUP_TMP"
# The manifest has the common fields only (size and BLAKE2b): counting secrets would need the
# unseal keys.
snapshot=$BACKUP_TMP
backup_manifest_stage "$snapshot" || exit 1
backup_commit "$snapshot" "$BACKUP_DIR" "$prefix" "$suffix"
backup_retention "$BACKUP_DIR" "$prefix" "$suffix"
