/**
 * The homelab's Vaultwarden CronJobs (SQLite backup and integrity check), run from the synthesized
 * stack through the harness on a Vaultwarden-like data volume in WAL mode while another process
 * keeps writing; the copy is restored into a fresh data directory and compared table by table, the
 * extra files byte for byte.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Pushgateway, runOk, startPushgateway } from '../support/servers';
import { allFiles, seriesIn } from '../support/run-script';
import { runJob, TestCluster } from '../harness/cronjob-harness';
import { testCluster } from '../harness/test-policy';
import { groupValues } from '../harness/pushgateway';
import { recordTiming } from '../harness/timings';
import { readManifest } from '../harness/manifests';
import { VaultwardenData, Writer, createVaultwardenData, eventNumbers, sqliteTableDigests, startWriter, treeDigest, writerAt } from '../harness/vaultwarden';

const EXTRA = ['rsa_key.pem', 'rsa_key.pub.pem', 'attachments', 'sends', 'config.json'];

let pgw: Pushgateway;
let cluster: TestCluster;
let nfs: string;
let data: VaultwardenData;
let writer: Writer | undefined;
const cleanups: (() => Promise<void> | void)[] = [];

function rootDir(label: string): string {
  const d = fs.mkdtempSync(`/tmp/bp-it-${label}-`);
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

beforeAll(async () => {
  pgw = await startPushgateway();
  cleanups.push(() => pgw.stop());
  // Vaultwarden's image writes its volume as root, and the homelab job runs as root for that reason.
  data = await createVaultwardenData(rootDir('vw-data'), 20000);
  nfs = rootDir('vw-backup');
  cluster = testCluster({ pushgateway: Number(new URL(pgw.url).port) }, { 'vaultwarden-backup': nfs, 'vaultwarden-data': data.dir });
}, 120000);

afterAll(async () => {
  await writer?.stop().catch(() => undefined);
  for (const c of cleanups.reverse()) await c();
});

describe('vaultwarden-backup (SQLite in WAL mode, under a writer)', () => {
  it('copies every committed transaction, the WAL included, consistently; the extra files come back byte for byte', async () => {
    writer = await startWriter(data.db);
    await writerAt(writer, 300);
    // The scenario under test: recent commits exist only in the -wal file.
    expect(fs.statSync(`${data.db}-wal`).size).toBeGreaterThan(0);
    const committedBefore = await writer.committed();
    const before = Math.floor(Date.now() / 1000);
    const job = await runJob(cluster, 'vaultwarden-backup');
    const pod = job.attempts[0];
    const written = await writer.stop();
    writer = undefined;
    expect(pod.stderr).toContain('finished successfully');
    expect(pod.code).toBe(0);
    expect(pod.tmpLeftovers).toEqual([]);
    const [db] = seriesIn(nfs, 'db_', '.sqlite3');
    const [files] = seriesIn(nfs, 'files_', '.tar.zst');
    expect(allFiles(nfs)).toEqual(['.lock-snapshot', db, `${db}.manifest.json`, files, `${files}.manifest.json`]);
    const g = await groupValues(pgw, 'vaultwarden', 'snapshot');
    expect(g.backup_last_run_success).toBe(1);
    expect(g.backup_last_success_timestamp_seconds).toBeGreaterThanOrEqual(before);
    expect(g.backup_last_size_bytes).toBe(fs.statSync(path.join(nfs, db)).size + fs.statSync(path.join(nfs, files)).size);

    // Restore: the copy becomes db.sqlite3 of a fresh data directory, the archive is unpacked there.
    const restored = rootDir('vw-restored');
    const restoreStart = Date.now();
    fs.copyFileSync(path.join(nfs, db), path.join(restored, 'db.sqlite3'));
    await runOk('bash', ['-c', 'set -o pipefail; zstd -dcq -- "$1" | tar -xpf - -C "$2"', 'bash', path.join(nfs, files), restored]);
    const restoreSeconds = (Date.now() - restoreStart) / 1000;
    const copy = path.join(restored, 'db.sqlite3');

    expect((await runOk('sqlite3', [`file:${copy}?mode=ro`, 'PRAGMA integrity_check'])).trim()).toBe('ok');
    expect(await sqliteTableDigests(copy, { except: ['event'] })).toEqual(await sqliteTableDigests(data.db, { except: ['event'] }));
    // A consistent snapshot of an append-only table: events 1..k with no gap, k at least what was
    // committed before the job started, and each row as the source has it.
    const events = await eventNumbers(copy);
    const k = events.length;
    expect(events).toEqual(Array.from({ length: k }, (_, i) => i + 1));
    expect(k).toBeGreaterThanOrEqual(committedBefore);
    expect(k).toBeLessThanOrEqual(written);
    const rows = (file: string) => runOk('sqlite3', ['-cmd', '.mode quote', `file:${file}?mode=ro`, `SELECT * FROM event WHERE event_type <= ${k} ORDER BY event_type`]);
    expect(await rows(copy)).toBe(await rows(data.db));

    expect(treeDigest(restored, [...EXTRA, 'icon_cache'])).toEqual(treeDigest(data.dir, EXTRA));
    expect(fs.readdirSync(restored).sort()).toEqual(['attachments', 'config.json', 'db.sqlite3', 'rsa_key.pem', 'rsa_key.pub.pem', 'sends']);

    // The manifests: rows per table of the copy as the restored file has them (the event table
    // at k, not at what the writer reached), and every extra file's size and BLAKE2b as restored.
    const labels = { service: 'vaultwarden', engine: 'sqlite', kind: 'snapshot' };
    const dbManifest = readManifest(path.join(nfs, db), labels);
    const tables = JSON.parse(await runOk('sqlite3', ['-json', `file:${copy}?mode=ro`, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"])) as { name: string }[];
    const counted: Record<string, number> = {};
    for (const { name } of tables) {
      counted[name] = Number((await runOk('sqlite3', [`file:${copy}?mode=ro`, `SELECT count(*) FROM "${name.replace(/"/g, '""')}"`])).trim());
    }
    expect(dbManifest.databases).toEqual({ main: { tables: counted } });
    expect(dbManifest.databases.main.tables.event).toBe(k);
    const filesManifest = readManifest(path.join(nfs, files), labels);
    const restoredFiles: Record<string, { bytes: number; blake2b: string }> = {};
    const walk = (rel: string): void => {
      const abs = path.join(restored, rel);
      const st = fs.lstatSync(abs);
      if (st.isDirectory()) for (const e of fs.readdirSync(abs)) walk(path.join(rel, e));
      else if (st.isFile()) restoredFiles[rel] = { bytes: st.size, blake2b: createHash('blake2b512').update(fs.readFileSync(abs)).digest('hex') };
    };
    for (const p of EXTRA) walk(p);
    expect(Object.keys(restoredFiles).length).toBeGreaterThan(EXTRA.length);
    expect(filesManifest.files).toEqual(restoredFiles);

    recordTiming('sqlite / vaultwarden (VACUUM INTO + tar | zstd, under a writer)', {
      dumpSeconds: pod.durationMs / 1000,
      restoreSeconds,
      bytes: fs.statSync(path.join(nfs, db)).size + fs.statSync(path.join(nfs, files)).size,
      data: `20k ciphers, ${k} events, WAL mode, 5 extra paths`,
    });
  }, 120000);
});

describe('vaultwarden-integrity-check', () => {
  it('reports a healthy live database as ok while it is being written', async () => {
    writer = await startWriter(data.db);
    await writerAt(writer, (await writer.committed()) + 50);
    const job = await runJob(cluster, 'vaultwarden-integrity-check');
    // The main file only grows at a checkpoint, and the writer checkpoints when it closes.
    const checkedSize = fs.statSync(data.db).size;
    await writer.stop();
    writer = undefined;
    const pod = job.attempts[0];
    expect(pod.stderr).toContain('integrity_check: ok');
    expect(pod.code).toBe(0);
    // It writes nothing to the backup volume, not even a lock (the snapshot job's is from above).
    expect(allFiles(nfs).filter((f) => f.startsWith('.lock'))).toEqual(['.lock-snapshot']);
    const g = await groupValues(pgw, 'vaultwarden', 'integrity');
    expect(g.backup_integrity_ok).toBe(1);
    expect(g.backup_last_run_success).toBe(1);
    expect(g.backup_last_size_bytes).toBe(checkedSize);
  }, 60000);
});
