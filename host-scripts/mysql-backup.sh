#!/usr/bin/env bash
# MySQL/MariaDB backup. `full`: one mysqldump --all-databases. `per-database`: one dump per database
# (without CREATE DATABASE, so it restores into any database name).
# Interface: CONTRACT.md. The password reaches the client only through a 0600 option file in
# TMPDIR: `-p<password>` would show it in /proc/<pid>/cmdline to every process on the node.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=backup-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/backup-lib.sh"

mode=${1:-}
case $mode in
  full | per-database) ;;
  *)
    echo "usage: $0 full|per-database" >&2
    exit 2
    ;;
esac
# The mode argument is the only kind accepted: BACKUP_KIND must agree with it.
backup_init mysql "$mode"
backup_require_env MYSQL_HOST MYSQL_PORT MYSQL_USER

# MariaDB images ship mariadb-dump (mysqldump is a deprecated symlink there), MySQL images mysqldump.
DUMP=$(command -v mariadb-dump || command -v mysqldump) || backup_die "neither mariadb-dump nor mysqldump is installed"
CLIENT=$(command -v mariadb || command -v mysql) || backup_die "neither mariadb nor mysql is installed"

# Option-file value syntax: double quotes around the value (so '#' and spaces survive), with
# backslash, double quote and newline escaped as the option-file parser expects.
option_value() {
  local v=$1
  v=${v//\\/\\\\}
  v=${v//\"/\\\"}
  v=${v//$'\n'/\\n}
  printf '"%s"' "$v"
}

write_defaults_file() {
  backup_tmpfile "$TMPDIR" mysql-client.cnf
  DEFAULTS=$BACKUP_TMP
  chmod 600 -- "$DEFAULTS"
  # printf is a builtin: the password never appears in any process's argument list.
  {
    printf '[client]\n'
    printf 'host=%s\n' "$(option_value "$MYSQL_HOST")"
    printf 'port=%s\n' "$MYSQL_PORT"
    # Without this, host=localhost means a Unix socket, which does not exist in the job's pod.
    printf 'protocol=TCP\n'
    printf 'user=%s\n' "$(option_value "$MYSQL_USER")"
    if [[ -n ${MYSQL_PASSWORD:-} ]]; then
      printf 'password=%s\n' "$(option_value "$MYSQL_PASSWORD")"
    fi
  } >"$DEFAULTS"
}
write_defaults_file

# --single-transaction: a consistent InnoDB snapshot without locking the server.
# utf8mb4: the client default (utf8mb3) turns 4-byte characters such as emoji into '?'.
DUMP_OPTIONS=(--single-transaction --routines --triggers --events --hex-blob --default-character-set=utf8mb4)
TRAILER='-- Dump completed'

# The steps that talk to the server run through backup_run (see backup-lib.sh).
# --defaults-extra-file must be the first option or the client ignores it.
dump_all_to() { "$DUMP" --defaults-extra-file="$DEFAULTS" "${DUMP_OPTIONS[@]}" --all-databases | zstd -T0 -q >"$1"; }
dump_to() { "$DUMP" --defaults-extra-file="$DEFAULTS" "${DUMP_OPTIONS[@]}" -- "$1" | zstd -T0 -q >"$2"; }
list_to() { "$CLIENT" --defaults-extra-file="$DEFAULTS" --batch --skip-column-names -e 'SHOW DATABASES' >"$1"; }

backup_full() {
  local prefix=dump_ suffix=.sql.zst
  backup_tmpfile "$BACKUP_DIR" "$prefix$BACKUP_TS$suffix"
  backup_log "${DUMP##*/} --all-databases from $MYSQL_HOST:$MYSQL_PORT as $MYSQL_USER"
  backup_run dump_all_to "$BACKUP_TMP" || backup_die "${DUMP##*/} failed"
  backup_check_zstd "$BACKUP_TMP"
  backup_check_trailer "$BACKUP_TMP" "$TRAILER"
  backup_commit "$BACKUP_TMP" "$BACKUP_DIR" "$prefix" "$suffix"
  backup_retention "$BACKUP_DIR" "$prefix" "$suffix"
}

list_databases() {
  local name
  DATABASES=()
  if [[ -n ${BACKUP_DATABASES:-} ]]; then
    read -r -a DATABASES <<<"$BACKUP_DATABASES"
  else
    backup_tmpfile "$TMPDIR" databases
    backup_run list_to "$BACKUP_TMP" || backup_die "cannot list databases"
    while IFS= read -r name; do
      case $name in
        # Server metadata, rebuilt by the server itself; mysqldump refuses or skips most of it.
        information_schema | performance_schema | sys) ;;
        *) DATABASES+=("$name") ;;
      esac
    done <"$BACKUP_TMP"
    backup_discard "$BACKUP_TMP"
  fi
  ((${#DATABASES[@]})) || backup_die "no databases to back up"
  backup_log "databases: ${DATABASES[*]}"
}

dump_database() {
  local db=$1 dir prefix=dump_ suffix=.sql.zst
  backup_safe_name "$db" || return 1
  dir="$BACKUP_DIR/per-db/$db"
  mkdir -p -- "$dir" || return 1
  backup_tmpfile "$dir" "$prefix$BACKUP_TS$suffix" || return 1
  backup_log "${DUMP##*/} of database '$db'"
  if ! backup_run dump_to "$db" "$BACKUP_TMP"; then
    backup_log "ERROR: ${DUMP##*/} of database '$db' failed"
    return 1
  fi
  backup_check_zstd "$BACKUP_TMP" || return 1
  backup_check_trailer "$BACKUP_TMP" "$TRAILER" || return 1
  backup_commit "$BACKUP_TMP" "$dir" "$prefix" "$suffix" || return 1
}

backup_per_database() {
  local db ok=() failed=()
  list_databases
  for db in "${DATABASES[@]}"; do
    # Reset so that a failure before the work file exists discards nothing of another database's.
    BACKUP_TMP=''
    if dump_database "$db"; then
      ok+=("$db")
    else
      failed+=("$db")
      backup_discard "$BACKUP_TMP"
    fi
  done
  ((${#failed[@]} == 0)) || backup_die "failed databases: ${failed[*]} (the other dumps were kept)"
  for db in "${ok[@]}"; do
    backup_retention "$BACKUP_DIR/per-db/$db" dump_ .sql.zst
  done
}

case $mode in
  full) backup_full ;;
  per-database) backup_per_database ;;
esac
