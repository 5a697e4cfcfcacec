# shellcheck shell=bash
# Vault's HTTP API through curl, for vault-backup.sh and vault-restore.sh (sourced after
# backup-lib.sh). No Vault binary is in the image. The token reaches curl as a header read from a
# file descriptor, never as an argument, and is never logged.

# vault_check_env: VAULT_ADDR and VAULT_TOKEN are set and safe to use.
vault_check_env() {
  backup_require_env VAULT_ADDR VAULT_TOKEN
  # A token with a line break would smuggle a second header into the request.
  [[ $VAULT_TOKEN != *[$'\r\n']* ]] || backup_die "VAULT_TOKEN contains a line break"
  [[ $VAULT_ADDR =~ ^https?://[^/?#]+/?$ ]] || backup_die "VAULT_ADDR must be http(s)://host[:port], got ${VAULT_ADDR%%\?*}"
}

# vault_curl OUTPUT STATUS_FILE PATH [CURL_ARG...]: one request to $VAULT_ADDR/v1/PATH, the body
# into OUTPUT, the HTTP status into STATUS_FILE; returns curl's exit status. -L follows a standby's
# 307 to the active node with the same method and body; curl keeps custom headers (X-Vault-Token)
# across the redirect, as the Vault CLI does. Protocols are limited so that a redirect cannot leave
# HTTP(S). The header comes from a here-string on fd 3 (bash feeds it through a pipe or a deleted
# file).
vault_curl() {
  local output=$1 status_file=$2 path=$3
  shift 3
  curl --silent --show-error --location --max-redirs 3 \
    --proto '=http,https' --proto-redir '=http,https' --connect-timeout 10 \
    --header @/dev/fd/3 --output "$output" --write-out '%{http_code}' "$@" -- "${VAULT_ADDR%/}/v1/$path" \
    3<<<"X-Vault-Token: $VAULT_TOKEN" >"$status_file"
}

# vault_verify_snapshot FILE: FILE is a raft snapshot as Vault writes it: a gzip'd tar of meta.json,
# state.bin, SHA256SUMS and SHA256SUMS.sealed. Checking each member against SHA256SUMS is what
# `vault operator raft snapshot restore` does first; the sealed sums need the unseal keys (Vault
# checks them itself when it installs a snapshot) and are not checked here.
vault_verify_snapshot() {
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

# vault_error FILE: the first message of Vault's JSON error answer {"errors":[...]}, on one line.
vault_error() {
  local msg
  msg=$(head -c 2048 -- "$1" | tr -d '\r\n\t' | sed -n 's/.*"errors":\["\([^"]*\)".*/\1/p')
  printf '%s' "${msg:-no error message}"
}
