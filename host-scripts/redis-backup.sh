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
# redis-check-rdb exits 1 on a corrupt or truncated file; an empty file is not an RDB either.
[[ -s $BACKUP_TMP ]] || backup_die "the RDB file is empty"
redis-check-rdb "$BACKUP_TMP" >&2 || backup_die "redis-check-rdb rejects the dump"
backup_commit "$BACKUP_TMP" "$BACKUP_DIR" "$prefix" "$suffix"
backup_retention "$BACKUP_DIR" "$prefix" "$suffix"
