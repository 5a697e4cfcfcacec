/**
 * MariaDB content fingerprints for "the restore equals the source": each table's definition and rows
 * (count and an order-independent digest of every value's exact bytes), and the stored program
 * objects a dump must carry (views, triggers, procedures, functions, events), with definers, SQL
 * modes and character sets; plus accounts and their grants.
 */
import type { Mariadb } from '../support/servers';

const SYSTEM = "('information_schema', 'performance_schema', 'sys', 'mysql')";

function lines(out: string): string[] {
  return out.split('\n').filter((l) => l !== '');
}

function q(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

function lit(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** User databases (not the server's own schemas). */
export async function myDatabases(m: Mariadb): Promise<string[]> {
  return lines(await m.sql(`SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ${SYSTEM} ORDER BY 1`));
}

const BYTES_TYPES = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', 'binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob', 'enum', 'set', 'json']);

/** Objects and rows of one database, as sorted lines. */
export async function myDatabaseFingerprint(m: Mariadb, db: string): Promise<string[]> {
  const d = lit(db);
  const fp = lines(
    await m.sql(`
      SELECT CONCAT_WS(' | ', 'schema', DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${d}
      UNION ALL SELECT CONCAT_WS(' | ', 'table', TABLE_NAME, TABLE_TYPE, IFNULL(ENGINE, '-'), IFNULL(TABLE_COLLATION, '-'), IFNULL(AUTO_INCREMENT, '-'), TABLE_COMMENT)
        FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${d}
      UNION ALL SELECT CONCAT_WS(' | ', 'column', TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, IFNULL(COLUMN_DEFAULT, 'NULL'), EXTRA, IFNULL(CHARACTER_SET_NAME, '-'), IFNULL(COLLATION_NAME, '-'))
        FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${d}
      UNION ALL SELECT CONCAT_WS(' | ', 'index', TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE, INDEX_TYPE)
        FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ${d}
      UNION ALL SELECT CONCAT_WS(' | ', 'foreign-key', k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE)
        FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r
          ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
       WHERE k.TABLE_SCHEMA = ${d}
      UNION ALL SELECT CONCAT_WS(' | ', 'check', TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE)
        FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ${d}
      UNION ALL SELECT CONCAT_WS(' | ', 'view', TABLE_NAME, HEX(VIEW_DEFINITION), DEFINER, SECURITY_TYPE, CHECK_OPTION, CHARACTER_SET_CLIENT, COLLATION_CONNECTION)
        FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ${d}
      UNION ALL SELECT CONCAT_WS(' | ', 'trigger', TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING, ACTION_ORDER, HEX(ACTION_STATEMENT), DEFINER, SQL_MODE, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION)
        FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${d}
      UNION ALL SELECT CONCAT_WS(' | ', 'routine', ROUTINE_TYPE, ROUTINE_NAME, HEX(ROUTINE_DEFINITION), IFNULL(DTD_IDENTIFIER, '-'), IS_DETERMINISTIC, SQL_DATA_ACCESS, SECURITY_TYPE, SQL_MODE, DEFINER, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION, ROUTINE_COMMENT)
        FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${d}
      UNION ALL SELECT CONCAT_WS(' | ', 'parameter', SPECIFIC_NAME, ORDINAL_POSITION, IFNULL(PARAMETER_MODE, '-'), IFNULL(PARAMETER_NAME, '-'), DTD_IDENTIFIER)
        FROM information_schema.PARAMETERS WHERE SPECIFIC_SCHEMA = ${d}
      UNION ALL SELECT CONCAT_WS(' | ', 'event', EVENT_NAME, DEFINER, HEX(EVENT_DEFINITION), EVENT_TYPE, IFNULL(EXECUTE_AT, '-'), IFNULL(INTERVAL_VALUE, '-'), IFNULL(INTERVAL_FIELD, '-'), SQL_MODE, IFNULL(STARTS, '-'), IFNULL(ENDS, '-'), STATUS, ON_COMPLETION, EVENT_COMMENT)
        FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ${d}
      ORDER BY 1`),
  );
  const columns = lines(
    await m.sql(`SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS c
                  WHERE TABLE_SCHEMA = ${d} AND EXISTS (SELECT 1 FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME AND t.TABLE_TYPE = 'BASE TABLE')
                  ORDER BY TABLE_NAME, ORDINAL_POSITION`),
  ).map((l) => l.split('\t'));
  const tables = [...new Set(columns.map(([t]) => t))];
  for (const table of tables) {
    // HEX of the stored bytes for strings and binaries (so a utf8mb4 emoji turned into '?' shows),
    // the text form for numbers and dates; NULL distinct from every value.
    const exprs = columns
      .filter(([t]) => t === table)
      .map(([, col, type]) => `IFNULL(${BYTES_TYPES.has(type) ? `HEX(${q(col)})` : `CAST(${q(col)} AS CHAR)`}, 'NULL')`);
    const [count, digest] = (
      await m.sql(
        `SET SESSION group_concat_max_len = 1073741824;
         SELECT COUNT(*), IFNULL(MD5(GROUP_CONCAT(h ORDER BY h SEPARATOR '')), '-')
           FROM (SELECT MD5(CONCAT_WS('|', ${exprs.join(', ')})) AS h FROM ${q(db)}.${q(table)}) x`,
      )
    ).trim().split('\t');
    fp.push(`rows | ${table} | ${count} | ${digest}`);
  }
  return fp;
}

/** Accounts (with authentication data) and every grant, as sorted lines. */
export async function myAccountsFingerprint(m: Mariadb): Promise<string[]> {
  const accounts = lines(await m.sql("SELECT User, Host FROM mysql.global_priv ORDER BY User, Host")).map((l) => l.split('\t'));
  const fp: string[] = [];
  for (const [user, host] of accounts) {
    const auth = (await m.sql(`SELECT JSON_VALUE(Priv, '$.plugin'), JSON_VALUE(Priv, '$.authentication_string') FROM mysql.global_priv WHERE User = ${lit(user)} AND Host = ${lit(host)}`)).trim();
    fp.push(`account | ${user}@${host} | ${auth}`);
    // A host-name account (mariadb-install-db adds root@<hostname>) is not loaded under
    // skip-name-resolve, and SHOW GRANTS refuses it; that refusal is part of the fingerprint.
    const grants = await m.sql(`SHOW GRANTS FOR ${lit(user)}@${lit(host)}`).catch((e: Error) => `refused: ${/ERROR \d+ .*$/.exec(e.message)?.[0] ?? e.message}`);
    for (const g of lines(grants)) fp.push(`grant | ${user}@${host} | ${g}`);
  }
  return fp.sort();
}
