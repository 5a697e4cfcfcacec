/**
 * Closes the gap the old system fell into (an alert on a metric no job ever pushed): the real
 * job scripts, run from the synthesized CronJobs through the harness against real servers, push
 * to a real Pushgateway; a real Prometheus scrapes it and evaluates the generated rules. Every
 * series a rule selects must exist, every rule must evaluate cleanly over those series, and the
 * failure rules must select the series a real failure produces.
 */
import * as fs from 'node:fs';
import { planPolicy } from '../../policy/plan/plan';
import { packageRoot } from '../../policy/io/scripts';

const planAlerts = (policy: unknown) => planPolicy(policy).alerts;
import type { AlertRule } from '../../policy/plan/alerts';
import { renderRulesFile } from '../../policy/render/prometheus-rules';
import { Postgres, Pushgateway, runOk, startPostgres, startPushgateway, waitUntil } from '../support/servers';
import { runJob, type TestCluster } from '../harness/cronjob-harness';
import { SECRETS, testCluster, testPolicy } from '../harness/test-policy';
import { createVaultwardenData, type VaultwardenData } from '../harness/vaultwarden';
import { startPrometheus, type Prometheus } from './prometheus';
import { addVolume, labHost, lvm, makeLab, removeLab, runHost, setCluster, setPoolUsage, writeConfig, type Lab } from '../host/host-lab';

let pgw: Pushgateway;
let pg: Postgres;
let prom: Prometheus;
let cluster: TestCluster;
let vw: VaultwardenData;
let rules: AlertRule[];
let lab: Lab;
const dirs: string[] = [];

function dir(label: string, owner?: number): string {
  const d = fs.mkdtempSync(`/tmp/bp-alerts-${label}-`);
  dirs.push(d);
  // The NFS export is owned by the job's user, as on the server.
  if (owner !== undefined) fs.chownSync(d, owner, owner);
  return d;
}

/** The metric{labels} selectors inside a rule expression. */
function selectors(expr: string): string[] {
  return [...expr.matchAll(/([a-z_]+)\{([^}]*)\}/g)].map((m) => `${m[1]}{${m[2]}}`);
}

const JOBS = ['postgresql-full-backup', 'postgresql-per-db-backup', 'vaultwarden-backup', 'vaultwarden-integrity-check'];
/** Rule groups under test: the cluster jobs above and the host's LVM snapshot job. */
const GROUPS = ['backup-policy.postgresql', 'backup-policy.vaultwarden', 'backup-policy.host.lvm-pvc-snapshot'];
/** Of the capacity rules, the one the snapshot job feeds (BackupDiskFull reads daily-backup's series). */
const CAPACITY = ['LVMThinPoolLow'];

/**
 * The restore drills' rules stay out of this run: a drill runs in the backup-drill image (its
 * throwaway servers), and this harness starts pods in the backup-tools root filesystem only. The
 * last test here holds their metric names to what drill-lib.sh pushes.
 */
const isDrillRule = (r: AlertRule) => r.labels.kind?.startsWith('drill-');

function groupsUnderTest(policy: unknown) {
  return planAlerts(policy)
    .filter((g) => GROUPS.includes(g.name) || g.name === 'backup-policy.host.capacity')
    .map((g) => (g.name === 'backup-policy.host.capacity' ? { ...g, rules: g.rules.filter((r) => CAPACITY.includes(r.alert)) } : { ...g, rules: g.rules.filter((r) => !isDrillRule(r)) }));
}

beforeAll(async () => {
  pgw = await startPushgateway();
  pg = await startPostgres({ password: SECRETS.postgres });
  await pg.psql('CREATE DATABASE app');
  await pg.psql('CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g', { db: 'app' });
  vw = await createVaultwardenData(dir('vw-data'), 500);
  const ports = { pushgateway: Number(new URL(pgw.url).port), postgres: pg.port };
  cluster = testCluster(ports, { 'postgresql-backup': dir('pg-nfs', 10001), 'vaultwarden-backup': dir('vw-nfs'), 'vaultwarden-data': vw.dir });
  rules = groupsUnderTest(testPolicy(ports)).flatMap((g) => g.rules);
  for (const name of JOBS) {
    const job = await runJob(cluster, name);
    expect({ name, code: job.attempts.at(-1)!.code }).toEqual({ name, code: 0 });
  }
  // The host job: lvm-pvc-snapshot on a lab host whose LVM is the stateful fake (this kernel has
  // no device-mapper), pushing to the same Pushgateway.
  lab = makeLab('alerts');
  writeConfig(lab, labHost(lab.root, { pushgateway: { url: pgw.url } }));
  await lvm(lab, 'lvm', ['fake-setup', 'vg', 'pve', 'data']);
  await addVolume(lab, 'vm-9999-pvc-aaaa', { 'data/file.txt': 'app data\n' });
  setCluster(lab, [['vm-9999-pvc-aaaa', 'apps', 'app-data']]);
  const snapshot = await runHost(lab, 'lvm-pvc-snapshot.sh', ['snapshot']);
  expect({ code: snapshot.code, stderr: snapshot.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('snapshots taken') });
  prom = await startPrometheus(pgw.url, renderRulesFile(groupsUnderTest(testPolicy(ports))));
  // Wait for a scrape that holds every job's status.
  await waitUntil(async () => (await prom.query('backup_last_run_success')).length >= JOBS.length + 1, 30000, 'first scrape');
}, 300000);

afterAll(async () => {
  if (lab) removeLab(lab);
  await prom?.stop();
  await pg?.stop();
  await pgw?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test('the rules cover the jobs that ran', () => {
  expect(new Set(rules.map((r) => r.alert))).toEqual(
    new Set([
      'PostgreSQLBackupStale', 'PostgreSQLBackupFailing', 'PostgreSQLBackupNeverSucceeded', 'PostgreSQLBackupTooSmall',
      'VaultwardenBackupStale', 'VaultwardenBackupFailing', 'VaultwardenBackupNeverSucceeded', 'VaultwardenBackupTooSmall',
      'VaultwardenIntegrityCheckStale', 'VaultwardenIntegrityCheckFailing', 'VaultwardenIntegrityCheckNeverSucceeded', 'VaultwardenIntegrityFail',
      'LVMSnapshotStale', 'LVMSnapshotFailing', 'LVMSnapshotNeverSucceeded', 'LVMThinPoolLow',
    ]),
  );
});

test('every metric name and label set a rule selects was really pushed and scraped', async () => {
  const missing: string[] = [];
  for (const rule of rules) {
    for (const selector of selectors(rule.expr)) {
      if ((await prom.query(selector)).length === 0) missing.push(`${rule.alert}: ${selector}`);
    }
  }
  expect(missing).toEqual([]);
});

test('every rule evaluates without error, and none fires after good runs', async () => {
  await waitUntil(async () => (await prom.rules()).every((r) => r.health === 'ok'), 20000, 'rules evaluated');
  expect((await prom.rules()).filter((r) => r.health !== 'ok')).toEqual([]);
  const firing: string[] = [];
  for (const rule of rules) if ((await prom.query(rule.expr)).length > 0) firing.push(rule.alert);
  expect(firing).toEqual([]);
});

test('a real failure produces exactly the series the Failing rule selects', async () => {
  await pg.stop();
  const job = await runJob(cluster, 'postgresql-full-backup');
  expect(job.attempts.at(-1)!.code).not.toBe(0);
  const failing = rules.find((r) => r.alert === 'PostgreSQLBackupFailing' && r.labels.kind === 'full')!;
  await waitUntil(async () => (await prom.query(failing.expr)).length === 1, 30000, 'failure scraped');
  const [series] = await prom.query(failing.expr);
  expect(series.metric).toEqual(expect.objectContaining({ service: 'postgresql', kind: 'full', job: 'backup' }));
  // The failed run kept the last success timestamp: the Stale rule still measures from it.
  expect(await prom.query('backup_last_success_timestamp_seconds{service="postgresql",kind="full"}')).toHaveLength(1);
});

test('a corrupt live database produces the series VaultwardenIntegrityFail selects', async () => {
  // Checkpoint the WAL into the file (so no newer page copy hides the damage), then overwrite
  // bytes inside a b-tree page: integrity_check stops answering "ok".
  await runOk('sqlite3', [vw.db, 'PRAGMA journal_mode=DELETE;']);
  const pageSize = Number((await runOk('sqlite3', [vw.db, 'PRAGMA page_size;'])).trim());
  const pages = Number((await runOk('sqlite3', [vw.db, 'PRAGMA page_count;'])).trim());
  const fd = fs.openSync(vw.db, 'r+');
  // The cell counts of the b-tree page headers (bytes 3-4) of pages 2 onwards.
  for (let page = 1; page < Math.min(pages, 8); page++) fs.writeSync(fd, Buffer.from([0x7f, 0x7f]), 0, 2, page * pageSize + 3);
  fs.closeSync(fd);
  const check = await runOk('bash', ['-c', 'sqlite3 -bail "file:$1?mode=ro" "PRAGMA integrity_check;" || true', 'bash', vw.db]);
  const job = await runJob(cluster, 'vaultwarden-integrity-check');
  expect(check.trim()).not.toBe('ok');
  expect(job.attempts.at(-1)!.code).not.toBe(0);
  const integrity = rules.find((r) => r.alert === 'VaultwardenIntegrityFail')!;
  await waitUntil(async () => (await prom.query(integrity.expr)).length === 1, 30000, 'integrity failure scraped');
});

test('a thin pool below its floor produces the series LVMSnapshotFailing and LVMThinPoolLow select', async () => {
  // 95% used: below the homelab's 15% free floor, so the job refuses to snapshot and fails.
  await setPoolUsage(lab, 95, 10);
  const refused = await runHost(lab, 'lvm-pvc-snapshot.sh', ['snapshot']);
  expect(refused.code).not.toBe(0);
  for (const alert of ['LVMSnapshotFailing', 'LVMThinPoolLow']) {
    const rule = rules.find((r) => r.alert === alert)!;
    await waitUntil(async () => (await prom.query(rule.expr)).length === 1, 30000, `${alert} series scraped`);
  }
});

test('no rule references a metric that no job pushes', async () => {
  const pushed = new Set((await pgw.samples()).filter((s) => s.labels.job === 'backup').map((s) => s.name));
  const referenced = new Set(planAlerts(testPolicy({ pushgateway: 1 })).flatMap((g) => g.rules.filter((r) => !isDrillRule(r)).flatMap((r) => selectors(r.expr).map((s) => s.split('{')[0]))));
  expect([...referenced].filter((name) => !pushed.has(name))).toEqual([]);
});

test('every metric a drill rule selects is one drill-lib.sh pushes, under the kind the rule names', () => {
  const lib = fs.readFileSync(`${packageRoot()}/host-scripts/drill-lib.sh`, 'utf8');
  const pushedByDrills = new Set([...lib.matchAll(/backup_metric (backup_restore_drill_[a-z_]+)/g)].map((m) => m[1]));
  const drillRules = planAlerts(testPolicy({ pushgateway: 1 })).flatMap((g) => g.rules.filter(isDrillRule));
  expect(drillRules.length).toBeGreaterThan(0);
  const referenced = new Set(drillRules.flatMap((r) => selectors(r.expr).map((s) => s.split('{')[0])));
  expect([...referenced].filter((name) => !pushedByDrills.has(name))).toEqual([]);
  // drill-lib.sh reports under kind drill-<the kind drilled>, the label the rules select.
  expect(lib).toContain('backup_init_without_volume "$engine" "drill-$kind"');
  for (const rule of drillRules) expect(rule.expr).toContain(`kind="${rule.labels.kind}"`);
});
