/**
 * The data the integration suites back up: rich enough that a dump missing any kind of object,
 * value or encoding shows up in the comparison, shared by the restore suites and the failure matrix.
 */
import * as crypto from 'node:crypto';
import { Postgres, runOk } from '../support/servers';
import { SECRETS } from './test-policy';
import type { RespClient } from './resp';

// ---------------------------------------------------------------------------------------------
// PostgreSQL

export const PG_UNICODE_DB = 'unicode ✓ db';
export const PG_ROLES_SQL = `
  CREATE ROLE app_owner LOGIN PASSWORD 'App-owner-pw-1';
  CREATE ROLE reporter NOLOGIN;
  CREATE ROLE analyst LOGIN PASSWORD 'Analyst-pw-2' IN ROLE reporter;
`;

/** Roles, three databases with several schemas, every kind of object, unicode and binary data, pgbench. */
export async function seedPostgres(pg: Postgres, opts: { pgbenchScale: number }): Promise<void> {
  await pg.psql(`${PG_ROLES_SQL}
    CREATE DATABASE shop OWNER app_owner;
    CREATE DATABASE "${PG_UNICODE_DB}";
    CREATE DATABASE bench;
    REVOKE CONNECT ON DATABASE bench FROM PUBLIC;
    GRANT CONNECT ON DATABASE bench TO analyst;
  `);
  await pg.psql(`
    CREATE SCHEMA sales AUTHORIZATION app_owner;
    CREATE SCHEMA audit;
    CREATE TABLE sales.customers (
      id bigserial PRIMARY KEY, name text NOT NULL, email text UNIQUE, note text,
      created timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00');
    CREATE TABLE sales.orders (
      id bigserial PRIMARY KEY, customer_id bigint REFERENCES sales.customers(id),
      amount numeric(12,2) CHECK (amount >= 0), payload bytea, tags text[], meta jsonb);
    CREATE TABLE audit.log (id bigserial PRIMARY KEY, tbl text, op text, row_data jsonb);
    CREATE FUNCTION audit.record() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO audit.log(tbl, op, row_data) VALUES (TG_TABLE_NAME, TG_OP, to_jsonb(NEW)); RETURN NEW; END $$;
    CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE ON sales.orders FOR EACH ROW EXECUTE FUNCTION audit.record();
    CREATE FUNCTION sales.customer_total(cid bigint) RETURNS numeric LANGUAGE sql STABLE
      AS $$ SELECT coalesce(sum(amount), 0) FROM sales.orders WHERE customer_id = cid $$;
    CREATE VIEW sales.customer_totals AS SELECT c.id, c.name, sales.customer_total(c.id) AS total FROM sales.customers c;
    CREATE SEQUENCE sales.invoice_no START 1000 INCREMENT 7;
    SELECT setval('sales.invoice_no', 4242);
    CREATE INDEX orders_meta ON sales.orders USING gin (meta);
    COMMENT ON TABLE sales.orders IS 'orders ✓ 注文';
    INSERT INTO sales.customers (name, email, note)
      SELECT 'Kunde ' || g || ' Grüße ✓ 日本語 🎉', 'c' || g || '@example.org',
             CASE WHEN g % 3 = 0 THEN E'tab\\there\\nnewline ''quote'' \\\\backslash' END
        FROM generate_series(1, 2000) g;
    INSERT INTO sales.orders (customer_id, amount, payload, tags, meta)
      SELECT 1 + g % 2000, (g * 37 % 10000) / 100.0, decode(md5(g::text) || '00ff00', 'hex'),
             ARRAY['t' || g % 5, 'ü'], jsonb_build_object('g', g, 'emoji', '🎉')
        FROM generate_series(1, 20000) g;
    SELECT lo_from_bytea(0, convert_to(repeat('large object Ω ', 10000), 'UTF8'));
    SELECT lo_from_bytea(424242, decode(repeat('00ff7f80', 50000), 'hex'));
    ALTER LARGE OBJECT 424242 OWNER TO app_owner;
    ALTER TABLE sales.customers OWNER TO app_owner;
    ALTER TABLE sales.orders OWNER TO app_owner;
    GRANT USAGE ON SCHEMA sales TO reporter;
    GRANT SELECT ON ALL TABLES IN SCHEMA sales TO reporter;
  `, { db: 'shop' });
  await pg.psql(`
    CREATE TABLE "Grüße" ("schlüssel" text PRIMARY KEY, wert bytea, zahl double precision);
    INSERT INTO "Grüße" SELECT 'k' || g || ' ✓', sha256(g::text::bytea), g / 3.0 FROM generate_series(1, 5000) g;
  `, { db: PG_UNICODE_DB });
  await runOk('pgbench', ['-i', '-q', '-s', String(opts.pgbenchScale), '--foreign-keys', 'bench'], { env: { ...process.env, ...pg.env } });
}

// ---------------------------------------------------------------------------------------------
// MariaDB

/**
 * The homelab job connects as root over TCP with the Secret's password: mariadb-install-db made
 * root@127.0.0.1 (without a usable password), which is the account a loopback client matches.
 */
export const MYSQL_ROOT_OVER_TCP = `ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '${SECRETS.mysql}';`;

/** Rich content: utf8mb4 with emoji, BLOBs, views, triggers, procedures, functions, events. */
export const MYSQL_SEED_SQL = `
SET SESSION max_recursive_iterations = 1000000;
CREATE USER 'app'@'%' IDENTIFIED BY 'App-pw-1';
CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE crm CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
GRANT SELECT, INSERT, EXECUTE ON shop.* TO 'app'@'%';
USE shop;
CREATE TABLE customers (
  id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NOT NULL, note TEXT, avatar BLOB,
  score DOUBLE, created DATETIME(6) NOT NULL DEFAULT '2024-01-01 00:00:00', kind ENUM('a','b','ü') DEFAULT 'a',
  UNIQUE KEY name_u (name)) ENGINE=InnoDB COMMENT='Kunden ✓';
CREATE TABLE orders (
  id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(12,2) CHECK (amount >= 0),
  payload LONGBLOB, doc JSON, KEY by_customer (customer_id),
  FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE) ENGINE=InnoDB;
CREATE TABLE audit_log (id BIGINT AUTO_INCREMENT PRIMARY KEY, order_id BIGINT, action VARCHAR(20)) ENGINE=InnoDB;
CREATE TRIGGER orders_ai AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit_log (order_id, action) VALUES (NEW.id, 'insert');
CREATE VIEW customer_totals AS
  SELECT c.id, c.name, SUM(o.amount) AS total FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name;
CREATE FUNCTION order_tax(a DECIMAL(12,2)) RETURNS DECIMAL(12,2) DETERMINISTIC RETURN a * 0.19;
DELIMITER //
CREATE PROCEDURE add_order(IN cid INT, IN amt DECIMAL(12,2))
BEGIN
  INSERT INTO orders (customer_id, amount, doc) VALUES (cid, amt, JSON_OBJECT('via', 'procedure ✓'));
END //
DELIMITER ;
CREATE EVENT nightly_cleanup ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 03:00:00'
  DO DELETE FROM audit_log WHERE id < 0;
INSERT INTO customers (name, note, avatar, score)
  WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 3000)
  SELECT CONCAT('Kunde ', n, ' Grüße ✓ 日本語 🎉'), IF(n % 3 = 0, CONCAT('tab\\there\\nnewline ''quote'' \\\\ ', n), NULL),
         UNHEX(SHA2(n, 256)), n / 7 FROM seq;
INSERT INTO orders (customer_id, amount, payload, doc)
  WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 60000)
  SELECT 1 + n % 3000, (n * 37 % 10000) / 100, UNHEX(CONCAT(SHA2(n, 512), '00FF00', MD5(n))),
         JSON_OBJECT('n', n, 'emoji', '🎉', 'tags', JSON_ARRAY('x', 'ü')) FROM seq;
USE crm;
CREATE TABLE contacts (email VARCHAR(190) PRIMARY KEY, display VARCHAR(100), raw VARBINARY(64)) ENGINE=Aria;
INSERT INTO contacts
  WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 2000)
  SELECT CONCAT('p', n, '@example.org'), CONCAT('👤 ', n, ' Ωmega'), UNHEX(MD5(n)) FROM seq;
`;

// ---------------------------------------------------------------------------------------------
// Redis

/** Every Redis type, binary and unicode values, TTLs, three databases and a bulk of small keys. */
export async function seedRedis(c: RespClient, bulkKeys: number): Promise<void> {
  await c.ok('SELECT', 0);
  await c.ok('SET', 'greeting', 'Grüße ✓ 日本語 🎉');
  await c.ok('SET', 'binary', crypto.createHash('sha512').update('x').digest());
  await c.ok('SET', 'empty', '');
  await c.ok('SET', 'counter', 41);
  await c.ok('INCR', 'counter');
  await c.ok('SET', 'big', Buffer.alloc(1 << 20, 'abc✓'));
  await c.ok('HSET', 'user:1', 'name', 'alice', 'plan', 'pro', 'avatar', Buffer.from([0, 255, 1, 254]));
  await c.ok('RPUSH', 'queue', 'a', 'b', 'c', 'ü', Buffer.from([0, 0, 0]));
  await c.ok('SADD', 'tags', 'red', 'green', 'blau', '🎉');
  await c.ok('SADD', 'ints', 1, 2, 3, 1000000);
  await c.ok('ZADD', 'board', 1.5, 'ann', -2, 'bob', 3.25e10, 'cy');
  for (let i = 0; i < 20; i++) await c.ok('XADD', 'events', `${1700000000000 + i}-0`, 'type', i % 2 ? 'login' : 'logout', 'user', `u${i}`);
  await c.ok('XGROUP', 'CREATE', 'events', 'workers', '0');
  await c.ok('XREADGROUP', 'GROUP', 'workers', 'w1', 'COUNT', 5, 'STREAMS', 'events', '>');
  await c.ok('XACK', 'events', 'workers', '1700000000000-0', '1700000000001-0');
  await c.ok('SET', 'session:1', 'token-1', 'EX', 3600);
  await c.ok('SET', 'session:2', 'token-2', 'PX', 7200000);
  await c.ok('HSET', 'cache:page', 'html', '<p>✓</p>');
  await c.ok('EXPIREAT', 'cache:page', 4102444800);
  await c.ok('SELECT', 3);
  await c.ok('SET', 'db3:only', 'in database 3');
  await c.ok('LPUSH', 'db3:list', 'x', 'y');
  await c.ok('SELECT', 0);
  for (let start = 0; start < bulkKeys; start += 1000) {
    const args: (string | Buffer)[] = [];
    for (let i = start; i < Math.min(bulkKeys, start + 1000); i++) args.push(`bulk:${i}`, crypto.createHash('sha256').update(String(i)).digest('hex').repeat(2));
    await c.ok('MSET', ...args);
  }
}

// ---------------------------------------------------------------------------------------------
// etcd

/**
 * Keys rewritten and deleted, so that revisions and history exist, and a bulk of pod-like keys;
 * returns the past revisions to check after a restore. `env` is etcdctl's environment.
 */
export async function seedEtcd(env: Record<string, string>, bulk: number): Promise<{ key: string; rev: number }[]> {
  const ctl = (args: string[], input?: string) => runOk('etcdctl', args, { env: { ...process.env, ...env }, input });
  const rev = async () => Number(JSON.parse(await ctl(['get', 'x', '-w', 'json'])).header.revision);
  const past: { key: string; rev: number }[] = [];
  for (let v = 1; v <= 3; v++) {
    await ctl(['put', '/registry/configmaps/default/settings', `version ${v} ✓ Grüße`]);
    past.push({ key: '/registry/configmaps/default/settings', rev: await rev() });
  }
  await ctl(['put', '/registry/secrets/default/doomed', 'deleted later']);
  past.push({ key: '/registry/secrets/default/doomed', rev: await rev() });
  await ctl(['del', '/registry/secrets/default/doomed']);
  await ctl(['put', '/registry/namespaces/日本語', '{"kind":"Namespace","emoji":"🎉"}']);
  await ctl(['put', '/registry/empty', '']);
  // 100 keys per transaction (compares, blank line, success ops, blank line, failure ops, blank line).
  for (let start = 0; start < bulk; start += 100) {
    const ops: string[] = [];
    for (let i = start; i < Math.min(bulk, start + 100); i++) ops.push(`put /registry/pods/ns-${i % 7}/pod-${i} spec-${i}-${'x'.repeat(200)}`);
    await ctl(['txn'], `\n${ops.join('\n')}\n\n\n`);
  }
  return past;
}

