/**
 * A Vaultwarden-like data volume: db.sqlite3 in WAL mode with Vaultwarden's main tables, the RSA
 * keys, attachments, sends and config.json; and a writer process that keeps committing while a
 * backup runs, with automatic checkpoints off so recent commits live only in the -wal file (the case
 * a file copy of db.sqlite3 would silently lose).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runOk, waitUntil } from '../support/servers';

const SCHEMA = `
PRAGMA journal_mode = WAL;
CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE users (
  uuid TEXT NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, email TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL, password_hash BLOB NOT NULL, salt BLOB NOT NULL, password_iterations INTEGER NOT NULL,
  password_hint TEXT, akey TEXT NOT NULL, private_key TEXT, public_key TEXT, totp_secret TEXT, totp_recover TEXT,
  security_stamp TEXT NOT NULL, equivalent_domains TEXT NOT NULL, excluded_globals TEXT NOT NULL,
  client_kdf_type INTEGER NOT NULL DEFAULT 0, client_kdf_iter INTEGER NOT NULL DEFAULT 100000, enabled BOOLEAN NOT NULL DEFAULT 1,
  api_key TEXT, avatar_color TEXT);
CREATE TABLE organizations (uuid TEXT NOT NULL PRIMARY KEY, name TEXT NOT NULL, billing_email TEXT NOT NULL, private_key TEXT, public_key TEXT);
CREATE TABLE users_organizations (
  uuid TEXT NOT NULL PRIMARY KEY, user_uuid TEXT NOT NULL REFERENCES users (uuid), org_uuid TEXT NOT NULL REFERENCES organizations (uuid),
  access_all BOOLEAN NOT NULL, akey TEXT NOT NULL, status INTEGER NOT NULL, atype INTEGER NOT NULL, UNIQUE (user_uuid, org_uuid));
CREATE TABLE devices (
  uuid TEXT NOT NULL, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, user_uuid TEXT NOT NULL REFERENCES users (uuid),
  name TEXT NOT NULL, atype INTEGER NOT NULL, push_token TEXT, refresh_token TEXT NOT NULL, twofactor_remember TEXT, PRIMARY KEY (uuid, user_uuid));
CREATE TABLE folders (uuid TEXT NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, user_uuid TEXT NOT NULL REFERENCES users (uuid), name TEXT NOT NULL);
CREATE TABLE ciphers (
  uuid TEXT NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, user_uuid TEXT REFERENCES users (uuid),
  organization_uuid TEXT REFERENCES organizations (uuid), atype INTEGER NOT NULL, name TEXT NOT NULL, notes TEXT, fields TEXT,
  data TEXT NOT NULL, password_history TEXT, deleted_at DATETIME, reprompt INTEGER, key TEXT);
CREATE INDEX ciphers_user ON ciphers (user_uuid);
CREATE TABLE folders_ciphers (cipher_uuid TEXT NOT NULL REFERENCES ciphers (uuid), folder_uuid TEXT NOT NULL REFERENCES folders (uuid), PRIMARY KEY (cipher_uuid, folder_uuid));
CREATE TABLE attachments (id TEXT NOT NULL PRIMARY KEY, cipher_uuid TEXT NOT NULL REFERENCES ciphers (uuid), file_name TEXT NOT NULL, file_size INTEGER NOT NULL, akey TEXT);
CREATE TABLE sends (
  uuid TEXT NOT NULL PRIMARY KEY, user_uuid TEXT REFERENCES users (uuid), organization_uuid TEXT, name TEXT NOT NULL, notes TEXT,
  atype INTEGER NOT NULL, data TEXT NOT NULL, akey TEXT NOT NULL, password_hash BLOB, password_salt BLOB, password_iter INTEGER,
  max_access_count INTEGER, access_count INTEGER NOT NULL, creation_date DATETIME NOT NULL, revision_date DATETIME NOT NULL,
  expiration_date DATETIME, deletion_date DATETIME NOT NULL, disabled BOOLEAN NOT NULL, hide_email BOOLEAN);
CREATE TABLE event (
  uuid TEXT NOT NULL PRIMARY KEY, event_type INTEGER NOT NULL, user_uuid TEXT, org_uuid TEXT, cipher_uuid TEXT,
  event_date DATETIME NOT NULL, ip_address TEXT);
CREATE TRIGGER ciphers_touch AFTER UPDATE OF data ON ciphers BEGIN UPDATE ciphers SET updated_at = '2024-06-01 00:00:00' WHERE uuid = NEW.uuid; END;
`;

function seedSql(ciphers: number): string {
  return `
INSERT INTO __diesel_schema_migrations (version, run_on) VALUES ('20180114171611', '2024-01-01 00:00:00'), ('20231125000000', '2024-01-02 00:00:00');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
INSERT INTO users SELECT 'user-' || i, '2024-01-01 00:00:00', '2024-01-01 00:00:00', 'user' || i || '@example.org', 'Nutzer ' || i || ' ✓ 🎉',
  randomblob(32), randomblob(64), 600000, NULL, '2.' || hex(randomblob(64)), hex(randomblob(600)), hex(randomblob(150)), NULL, NULL,
  hex(randomblob(16)), '[]', '[]', 0, 600000, 1, NULL, '#aabbcc' FROM n;
INSERT INTO organizations VALUES ('org-1', 'Familie Müller', 'admin@example.org', hex(randomblob(600)), hex(randomblob(150)));
INSERT INTO users_organizations SELECT 'uo-' || i, 'user-' || i, 'org-1', 1, hex(randomblob(64)), 2, 0 FROM (SELECT 1 AS i UNION SELECT 2 UNION SELECT 3);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 80)
INSERT INTO devices SELECT 'dev-' || i, '2024-01-01', '2024-01-01', 'user-' || (1 + i % 40), 'Firefox ' || i, 10, NULL, hex(randomblob(64)), NULL FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
INSERT INTO folders SELECT 'folder-' || i, '2024-01-01', '2024-01-01', 'user-' || (1 + i % 40), '2.' || hex(randomblob(48)) FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ciphers})
INSERT INTO ciphers SELECT 'cipher-' || i, '2024-01-01 00:00:00', '2024-01-01 00:00:00', 'user-' || (1 + i % 40), CASE WHEN i % 10 = 0 THEN 'org-1' END,
  1 + i % 4, '2.' || hex(randomblob(32)), CASE WHEN i % 3 = 0 THEN '2.' || hex(randomblob(100)) END, NULL,
  '{"Name":"2.' || hex(randomblob(32)) || '","Password":"2.' || hex(randomblob(300)) || '"}', NULL, NULL, 0, NULL FROM n;
INSERT INTO folders_ciphers SELECT uuid, 'folder-' || (1 + abs(random()) % 200) FROM ciphers WHERE rowid % 2 = 0;
INSERT INTO attachments VALUES ('att-1', 'cipher-7', '2.' || hex(randomblob(16)), 131072, '2.' || hex(randomblob(32))),
                               ('att-2', 'cipher-8', '2.' || hex(randomblob(16)), 4096, '2.' || hex(randomblob(32)));
INSERT INTO sends VALUES ('send-1', 'user-1', NULL, '2.' || hex(randomblob(16)), NULL, 1, '{"Id":"file-1"}', '2.' || hex(randomblob(32)),
  NULL, NULL, NULL, 5, 0, '2024-01-01', '2024-01-01', NULL, '2030-01-01', 0, 0);
`;
}

export interface VaultwardenData {
  dir: string;
  db: string;
}

/** Creates the volume in `dir` (root-owned, as Vaultwarden's image writes it). */
export async function createVaultwardenData(dir: string, ciphers: number): Promise<VaultwardenData> {
  const db = path.join(dir, 'db.sqlite3');
  await runOk('sqlite3', ['-bail', db], { input: SCHEMA + seedSql(ciphers) });
  fs.writeFileSync(path.join(dir, 'rsa_key.pem'), `-----BEGIN PRIVATE KEY-----\n${randomBytes(1200).toString('base64')}\n-----END PRIVATE KEY-----\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'rsa_key.pub.pem'), `-----BEGIN PUBLIC KEY-----\n${randomBytes(300).toString('base64')}\n-----END PUBLIC KEY-----\n`, { mode: 0o644 });
  fs.mkdirSync(path.join(dir, 'attachments', 'cipher-7'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'attachments', 'cipher-8'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'attachments', 'cipher-7', 'att-1'), randomBytes(131072));
  fs.writeFileSync(path.join(dir, 'attachments', 'cipher-8', 'att-2'), randomBytes(4096));
  fs.mkdirSync(path.join(dir, 'sends', 'send-1'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'sends', 'send-1', 'file-1'), randomBytes(20000));
  fs.writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify({ domain: 'https://vault.example.org', signups_allowed: false, admin_token: '$argon2id$v=19$m=65540,t=3,p=4$fake' }, null, 2)}\n`, { mode: 0o600 });
  // Not in the policy's paths: must not be in the archive.
  fs.mkdirSync(path.join(dir, 'icon_cache'));
  fs.writeFileSync(path.join(dir, 'icon_cache', 'example.org.png'), randomBytes(500));
  return { dir, db };
}

export interface Writer {
  /** Highest event number committed so far (read through a separate read-only connection). */
  committed(): Promise<number>;
  /** Stops writing; resolves with the number of events written. */
  stop(): Promise<number>;
}

async function maxEvent(db: string): Promise<number> {
  const out = await runOk('sqlite3', [`file:${db}?mode=ro`, 'SELECT coalesce(max(event_type), 0) FROM event']);
  return Number(out.trim());
}

/**
 * One long-lived sqlite3 connection appending events `ev-<n>` with event_type n (continuing after
 * the highest one present), one transaction each, every few milliseconds, automatic checkpoints off.
 */
export async function startWriter(db: string): Promise<Writer> {
  let n = await maxEvent(db);
  const child: ChildProcess = spawn('sqlite3', ['-bail', db], { stdio: ['pipe', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr!.on('data', (d: Buffer) => (errors += d.toString()));
  child.stdin!.write('PRAGMA wal_autocheckpoint = 0;\n.timeout 10000\n');
  const timer = setInterval(() => {
    n += 1;
    child.stdin!.write(`INSERT INTO event VALUES ('ev-${n}', ${n}, 'user-1', NULL, 'cipher-${n}', '2024-02-01 00:00:00', '192.0.2.${n % 250}');\n`);
  }, 3);
  child.stdin!.on('error', () => {
    // A writer that died (its error is reported by stop) must not crash the test process.
  });
  return {
    committed: () => maxEvent(db),
    async stop() {
      clearInterval(timer);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.stdin!.end('.quit\n');
        await exited;
      }
      if (errors) throw new Error(`writer failed: ${errors}`);
      return n;
    },
  };
}

/** Waits until the writer has committed at least `count` events. */
export async function writerAt(w: Writer, count: number): Promise<void> {
  await waitUntil(async () => (await w.committed()) >= count, 20000, `${count} events committed`);
}

/** Each table's rows as a digest of their SQL literals (order-independent: VACUUM may renumber rowids). */
export async function sqliteTableDigests(db: string, opts: { except?: string[] } = {}): Promise<Record<string, string>> {
  const uri = `file:${db}?mode=ro`;
  const tables = (await runOk('sqlite3', [uri, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name"])).split('\n').filter(Boolean);
  const out: Record<string, string> = {};
  out['schema'] = createHash('sha256').update(await runOk('sqlite3', [uri, 'SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name'])).digest('hex');
  for (const t of tables.filter((x) => !(opts.except ?? []).includes(x))) {
    const rows = (await runOk('sqlite3', ['-cmd', '.mode quote', uri, `SELECT * FROM "${t}"`])).split('\n').filter(Boolean).sort();
    out[t] = `${rows.length} ${createHash('sha256').update(rows.join('\n')).digest('hex')}`;
  }
  return out;
}

/** Event numbers in a database, sorted. */
export async function eventNumbers(db: string): Promise<number[]> {
  const out = await runOk('sqlite3', [`file:${db}?mode=ro`, 'SELECT event_type FROM event ORDER BY event_type']);
  return out.split('\n').filter(Boolean).map(Number);
}

/** Every file under `dir` (relative path -> sha256 and mode), directories listed as such. */
export function treeDigest(dir: string, only: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const abs = path.join(dir, rel);
    const st = fs.lstatSync(abs);
    if (st.isDirectory()) {
      out[`${rel}/`] = `dir ${(st.mode & 0o7777).toString(8)}`;
      for (const e of fs.readdirSync(abs).sort()) walk(path.join(rel, e));
    } else {
      out[rel] = `${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(fs.readFileSync(abs)).digest('hex')}`;
    }
  };
  for (const p of only) if (fs.existsSync(path.join(dir, p))) walk(p);
  return out;
}
