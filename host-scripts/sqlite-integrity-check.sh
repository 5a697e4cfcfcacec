#!/usr/bin/env bash
# Integrity check of a live SQLite database, between backups: pushes backup_integrity_ok 1/0 so
# that corruption pages someone before the next backup refuses to copy it.
# Interface: CONTRACT.md (sqlite variables; writes no files and never touches the backup volume).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"
# shellcheck source=sqlite-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/sqlite-lib.sh"

backup_init_without_volume sqlite integrity
backup_require_env SQLITE_DATA_DIR SQLITE_DB
live=$(backup_sqlite_path "$SQLITE_DB") || backup_die "invalid SQLITE_DB"

backup_log "integrity_check of $live"
ok=0
# A missing file counts as not ok: an app that lost its database is not healthy.
if backup_sqlite_integrity "$live"; then ok=1; fi
backup_metric backup_integrity_ok "$ok"
# The checked database's size, so that a shrinking database shows on the same dashboard.
if [[ -f $live ]]; then backup_add_size "$(stat -c %s -- "$live")"; fi
((ok)) || backup_die "integrity check failed"
backup_log "integrity_check: ok"
