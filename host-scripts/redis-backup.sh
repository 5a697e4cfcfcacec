#!/usr/bin/env bash
# Redis backup: an RDB streamed over the replication protocol (`redis-cli --rdb`), so no access to
# the server's volume is needed and no BGSAVE timing is guessed.
# Interface: CONTRACT.md. The password comes from REDISCLI_AUTH, which redis-cli reads itself.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"

backup_init redis snapshot
backup_require_env REDIS_HOST REDIS_PORT

prefix=dump_
suffix=.rdb
backup_tmpfile "$BACKUP_DIR" "$prefix$BACKUP_TS$suffix"
backup_log "redis-cli --rdb from $REDIS_HOST:$REDIS_PORT"
backup_run redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --rdb "$BACKUP_TMP" >&2 || backup_die "redis-cli --rdb failed"
rdb=$BACKUP_TMP

# rdb_length FILE OFFSET: RDB's length encoding at OFFSET; prints "value size-in-bytes". The first
# byte's top two bits: 00 six bits, 01 fourteen bits, 0x80 a 32-bit and 0x81 a 64-bit big-endian
# number in the next bytes.
rdb_length() {
  local -a b
  local i v
  read -r -a b < <(od -A n -t u1 -j "$2" -N 9 -- "$1") || return 1
  ((${#b[@]})) || return 1
  case $((b[0] >> 6)) in
    0) printf '%s 1\n' "$((b[0] & 63))" ;;
    1) printf '%s 2\n' "$(((b[0] & 63) << 8 | b[1]))" ;;
    2)
      case ${b[0]} in
        128) v=0; for ((i = 1; i <= 4; i++)); do v=$((v << 8 | b[i])); done; printf '%s 5\n' "$v" ;;
        129) v=0; for ((i = 1; i <= 8; i++)); do v=$((v << 8 | b[i])); done; printf '%s 9\n' "$v" ;;
        *) return 1 ;;
      esac
      ;;
    *) return 1 ;;
  esac
}

# redis_counts RDB CHECK_OUTPUT: the manifest's "redis" section, from the copy itself.
# redis-check-rdb reads every key and prints the totals ("N keys read", "N expires") but not the
# keys per database; it does print the offset after each database's SELECTDB opcode, and there
# the RDB has RESIZEDB (0xFB) with the database's key and expire counts, which Redis writes from
# the forked, frozen keyspace it then saves key by key. The two must agree: the per-database
# counts are accepted only when they add up to the totals redis-check-rdb read.
redis_counts() {
  local rdb=$1 check=$2 keys expires offset db total_keys=0 total_expires=0 n size
  local -a pairs=()
  keys=$(sed -n 's/^\[info\] \([0-9]*\) keys read$/\1/p' -- "$check")
  expires=$(sed -n 's/^\[info\] \([0-9]*\) expires$/\1/p' -- "$check")
  [[ $keys =~ ^[0-9]+$ && $expires =~ ^[0-9]+$ ]] || {
    backup_log "ERROR: redis-check-rdb printed no key and expire totals"
    return 1
  }
  while read -r offset db; do
    [[ $(od -A n -t u1 -j "$offset" -N 1 -- "$rdb") == *251 ]] || {
      backup_log "ERROR: no RESIZEDB after database $db's SELECTDB (offset $offset)"
      return 1
    }
    read -r n size < <(rdb_length "$rdb" $((offset + 1))) || return 1
    total_keys=$((total_keys + n))
    pairs+=("$db" "$n")
    read -r n size < <(rdb_length "$rdb" $((offset + 1 + size))) || return 1
    total_expires=$((total_expires + n))
  done < <(sed -n 's/^\[offset \([0-9]*\)\] Selecting DB ID \([0-9]*\)$/\1 \2/p' -- "$check")
  if ((total_keys != keys || total_expires != expires)); then
    backup_log "ERROR: the databases' RESIZEDB counts ($total_keys keys, $total_expires expires) differ from what redis-check-rdb read ($keys, $expires)"
    return 1
  fi
  jq -n --argjson keys "$keys" --argjson expires "$expires" '
    $ARGS.positional as $p
    | {redis: {keys: $keys, expires: $expires,
        databases: (reduce range(0; $p | length; 2) as $i ({}; .[$p[$i]] = ($p[$i + 1] | tonumber)))}}' \
    --args "${pairs[@]}"
}

backup_manifest_stage "$rdb" || exit 1
sections=$BACKUP_MANIFEST_SECTIONS
backup_tmpfile "$TMPDIR" redis-check-rdb || exit 1
check=$BACKUP_TMP
# redis-check-rdb exits 1 on a corrupt or truncated file; an empty file is not an RDB either.
[[ -s $rdb ]] || backup_die "the RDB file is empty"
redis-check-rdb "$rdb" >"$check" || {
  cat -- "$check" >&2
  backup_die "redis-check-rdb rejects the dump"
}
cat -- "$check" >&2
if ! redis_counts "$rdb" "$check" >"$sections"; then
  # The copy is good (redis-check-rdb says so); only its manifest cannot be made.
  backup_manifest_skip "$rdb" "cannot count the keys of the RDB for its manifest"
fi
backup_commit "$rdb" "$BACKUP_DIR" "$prefix" "$suffix"
backup_retention "$BACKUP_DIR" "$prefix" "$suffix"
