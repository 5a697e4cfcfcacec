/**
 * Restore is code, for SQLite (Vaultwarden): the homelab's rendered backup CronJob copies a
 * Vaultwarden-like volume (database, attachments/, sends/, rsa_key files, file names with spaces,
 * quotes and non-ASCII), then the restore Job that `backup-policy restore vaultwarden` renders runs
 * in the harness (the backup-tools image, the backup's user) into an empty volume and in place over
 * the live one: refused under a writer, refused without --yes, then replaced with the old data kept
 * aside. Every table's rows and every file's bytes are compared with the source.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Pushgateway, runOk, startPushgateway } from '../support/servers';
import { jobManifestView, runJob } from '../harness/cronjob-harness';
import { testCluster, testPolicy } from '../harness/test-policy';
import { groupValues } from '../harness/pushgateway';
import { createVaultwardenData, sqliteTableDigests, startWriter, treeDigest, writerAt, type VaultwardenData } from '../harness/vaultwarden';
import { planPolicy } from '../../policy/plan/plan';
import { renderRestoreJob, type RestoreRequest } from '../../policy/render/restore-job';

const EXTRA = ['rsa_key.pem', 'rsa_key.pub.pem', 'attachments', 'sends', 'config.json'];
const HOSTILE = ['attachments/cipher-7/a file with spaces & \'single\' "double" quotes', 'attachments/cipher-8/ünïcødé 日本語 🎉.bin', 'sends/send 2/$(not a command) `x` \\ back'];

let pgw: Pushgateway;
let nfs: string;
let data: VaultwardenData;
let port: number;
let want: { rows: Record<string, string>; files: Record<string, string> };
const cleanups: (() => Promise<void> | void)[] = [];

function rootDir(label: string): string {
  const d = fs.mkdtempSync(`/tmp/bp-it-${label}-`);
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

beforeAll(async () => {
  pgw = await startPushgateway();
  cleanups.push(() => pgw.stop());
  port = Number(new URL(pgw.url).port);
  data = await createVaultwardenData(rootDir('vw-data'), 2000);
  for (const f of HOSTILE) {
    fs.mkdirSync(path.dirname(path.join(data.dir, f)), { recursive: true });
    fs.writeFileSync(path.join(data.dir, f), randomBytes(3000));
  }
  await runOk('sqlite3', [data.db, "INSERT INTO folders SELECT 'folder ''quoted'' ✓ 日本', created_at, updated_at, user_uuid, name FROM folders LIMIT 1"]);
  nfs = rootDir('vw-restore-backup');
  const backup = await runJob(testCluster({ pushgateway: port }, { 'vaultwarden-backup': nfs, 'vaultwarden-data': data.dir }), 'vaultwarden-backup');
  expect({ code: backup.attempts[0].code, errors: backup.attempts[0].stderr.split('\n').filter((l) => /ERROR/.test(l)) }).toEqual({ code: 0, errors: [] });
  want = { rows: await sqliteTableDigests(data.db), files: treeDigest(data.dir, EXTRA) };
  for (const f of HOSTILE) expect(Object.keys(want.files)).toContain(f);
}, 180000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function restore(dir: string, request: Partial<RestoreRequest> = {}) {
  const service = planPolicy(testPolicy({ pushgateway: port })).services.find((s) => s.id === 'vaultwarden')!;
  const view = jobManifestView(renderRestoreJob(service, { mode: 'snapshot', copy: 'latest', overwrite: false, ...request }, new Date()));
  const job = await runJob(testCluster({ pushgateway: port }, { 'vaultwarden-backup': nfs, 'vaultwarden-data': dir }), view.name, { job: view });
  return job.attempts[0];
}

it('restores into an empty volume: every row and every file of the source, nothing else', async () => {
  const dir = rootDir('vw-empty');
  const pod = await restore(dir);
  expect({ code: pod.code, errors: pod.stderr.split('\n').filter((l) => /ERROR/.test(l)) }).toEqual({ code: 0, errors: [] });
  expect(await sqliteTableDigests(path.join(dir, 'db.sqlite3'))).toEqual(want.rows);
  expect(treeDigest(dir, EXTRA)).toEqual(want.files);
  expect(fs.readdirSync(dir).sort()).toEqual(['attachments', 'config.json', 'db.sqlite3', 'rsa_key.pem', 'rsa_key.pub.pem', 'sends']);
  expect(pod.stderr).toMatch(/table 'ciphers': 2000 rows/);
  expect(pod.stderr).toContain('next: start the writer again (kubectl -n vaultwarden scale deployment/vaultwarden --replicas=1)');
  const metrics = await groupValues(pgw, 'vaultwarden', 'restore-snapshot');
  expect(metrics.backup_restore_last_run_success).toBe(1);
  expect(metrics.backup_restore_duration_seconds).toBeGreaterThan(0);
}, 180000);

it('in place: refused under a writer and without --yes; with --yes replaced, the old data kept aside', async () => {
  // The live volume moved on since the backup.
  await runOk('sqlite3', [data.db, "DELETE FROM folders WHERE rowid % 2 = 0"]);
  fs.writeFileSync(path.join(data.dir, 'attachments', 'cipher-8', 'att-2'), 'changed after the backup');
  const changed = { rows: await sqliteTableDigests(data.db), files: treeDigest(data.dir, EXTRA) };
  expect(changed.rows).not.toEqual(want.rows);

  const writer = await startWriter(data.db);
  try {
    await writerAt(writer, 20);
    expect(fs.statSync(`${data.db}-wal`).size).toBeGreaterThan(0);
    const underWriter = await restore(data.dir, { overwrite: true });
    expect(underWriter.code).not.toBe(0);
    expect(underWriter.stderr).toContain('Stop the writer first: kubectl -n vaultwarden scale deployment/vaultwarden --replicas=0');
  } finally {
    await writer.stop();
  }
  const stopped = { rows: await sqliteTableDigests(data.db), files: treeDigest(data.dir, EXTRA) };
  expect(fs.existsSync(`${data.db}-wal`) ? fs.statSync(`${data.db}-wal`).size : 0).toBe(0);

  const refused = await restore(data.dir);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toMatch(/would replace: db\.sqlite3 \(\d+ bytes/);
  expect(refused.stderr).toContain('would replace: attachments');
  expect(refused.stderr).toContain('RESTORE_OVERWRITE=yes');
  expect({ rows: await sqliteTableDigests(data.db), files: treeDigest(data.dir, EXTRA) }).toEqual(stopped);
  expect((await groupValues(pgw, 'vaultwarden', 'restore-snapshot')).backup_restore_last_run_success).toBe(0);

  const forced = await restore(data.dir, { overwrite: true });
  expect({ code: forced.code, errors: forced.stderr.split('\n').filter((l) => /ERROR/.test(l)) }).toEqual({ code: 0, errors: [] });
  expect(await sqliteTableDigests(data.db)).toEqual(want.rows);
  expect(treeDigest(data.dir, EXTRA)).toEqual(want.files);
  const names = fs.readdirSync(data.dir);
  const aside = names.find((n) => /^db\.sqlite3\.before-restore-\d{8}T\d{6}Z$/.test(n))!;
  expect(aside).toBeDefined();
  expect(await sqliteTableDigests(path.join(data.dir, aside))).toEqual(stopped.rows);
  expect(names.filter((n) => /^attachments\.before-restore-/.test(n))).toHaveLength(1);
  expect(names.some((n) => n.startsWith('.tmp.'))).toBe(false);
  // What the backup never copied stays as it was.
  expect(names).toContain('icon_cache');
}, 180000);
