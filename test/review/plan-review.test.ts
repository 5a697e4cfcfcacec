import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { planChanges, reviewPlans } from '../../policy/checks/review';
import { packageRoot } from '../../policy/io/scripts';
import { planPolicy } from '../../policy/plan/plan';
import { renderProtectionMatrix, renderRpoRto } from '../../policy/render/docs/tables';
import { renderRulesFile } from '../../policy/render/prometheus-rules';
import { homelabPolicy } from '../../stacks/homelab-policy';

const root = packageRoot();
const base = planPolicy(homelabPolicy);

function homelabWith(edit: (p: any) => void): any {
  const copy = structuredClone(homelabPolicy);
  edit(copy);
  return copy;
}

const review = (edit: (p: any) => void) => reviewPlans(base, planPolicy(homelabWith(edit)), 'main');

/** The review split into its headline counts and its two lists. */
function sections(text: string) {
  const headline = /^(\d+) risky changes?, (\d+) others?\.$/m.exec(text);
  const list = (title: string) => {
    const at = text.indexOf(`### ${title}`);
    if (at < 0) return [];
    const rest = text.slice(at).split('\n').slice(2);
    const end = rest.findIndex((line) => !line.startsWith('- '));
    return rest.slice(0, end < 0 ? rest.length : end).map((line) => line.replace(/^- (⚠️ )?/, ''));
  };
  return { risky: list('Protection lost or weakened'), other: list('Other changes'), counts: headline ? [Number(headline[1]), Number(headline[2])] : undefined };
}

describe('plan review: protection models compared', () => {
  test('no change says so', () => {
    expect(reviewPlans(base, base, 'main')).toBe('## Backup policy review (against main)\n\nNo change to what is protected, where, how often, for how long or how it is watched.\n');
  });

  test('offsite daily -> weekly (and a lower thin-pool floor) is risky: offsite RPO per service and every threshold, in words', () => {
    const text = review((p) => {
      p.host.offsite.schedule = 'weekly on sunday at 06:00';
      p.host.snapshots.minFreePercent = 2;
    });
    const { risky, other, counts } = sections(text);
    expect(risky).toEqual(
      expect.arrayContaining([
        'host offsite-sync-backup: schedule "At 06:00" -> "At 06:00, only on Sunday" (longest gap 24 hours -> 7 days)',
        'mysql: offsite RPO 2 days -> 8 days',
        'postgresql: offsite RPO 2 days -> 8 days',
        'etcd: offsite RPO 8 days -> 14 days',
        'vault: offsite RPO 2 days -> 8 days (copy of the dumps via /srv/nfs: 8 days -> 14 days; copy of the file backup via /mnt/backup: 2 days -> 8 days)',
        'redis: offsite RPO 2 days -> 8 days (copy of the dumps via /srv/nfs: 8 days -> 14 days; copy of the file backup via /mnt/backup: 2 days -> 8 days)',
        'vaultwarden: offsite RPO 30 hours -> 7 days 6 hours (copy of the dumps via /srv/nfs: 30 hours -> 7 days 6 hours; copy of the file backup via /mnt/backup: 2 days -> 8 days)',
        'alert OffsiteBackupSyncStale (offsite-sync-backup, sync): no success for 36 hours, warning -> no success for 8 days, warning',
        'alert OffsiteBackupSyncNeverSucceeded (offsite-sync-backup, sync): no success ever reported for 36 hours, warning -> no success ever reported for 8 days, warning',
        'alert LVMThinPoolLow (lvm-pvc-snapshot, snapshot): backup_thin_pool_free_percent < 15% for 15 minutes, warning -> backup_thin_pool_free_percent < 2% for 15 minutes, warning',
        'host snapshots.minFreePercent: 15 -> 2',
      ]),
    );
    expect(other).toEqual([]);
    expect(counts).toEqual([risky.length, 0]);
    expect(risky).toHaveLength(11);
  });

  test('removing /srv/nfs from the offsite sources names every service that loses an offsite copy', () => {
    const { risky, counts } = sections(review((p) => (p.host.offsite.sources = p.host.offsite.sources.filter((s: any) => s.path !== '/srv/nfs'))));
    expect(risky).toEqual([
      // etcd has no PVC, so its dumps were its only way offsite: the whole layer goes.
      'etcd: offsite layer lost: 192.168.1.13:/Backup/Viki/nfs/etcd-backup (the dumps via /srv/nfs, keeps as the dumps, RPO 8 days) -> no offsite copy',
      'mysql: offsite layer lost: 192.168.1.13:/Backup/Viki/nfs/mysql-backup (the dumps via /srv/nfs, keeps as the dumps, RPO 2 days) -> no offsite copy',
      'postgresql: offsite layer lost: 192.168.1.13:/Backup/Viki/nfs/postgresql-backup (the dumps via /srv/nfs, keeps as the dumps, RPO 2 days) -> no offsite copy',
      'redis: offsite copy lost: 192.168.1.13:/Backup/Viki/nfs/redis-backup (the dumps via /srv/nfs, keeps as the dumps, RPO 8 days) -> none',
      'vault: offsite copy lost: 192.168.1.13:/Backup/Viki/nfs/vault-backup (the dumps via /srv/nfs, keeps as the dumps, RPO 8 days) -> none',
      'vaultwarden: offsite copy lost: 192.168.1.13:/Backup/Viki/nfs/vaultwarden-backup (the dumps via /srv/nfs, keeps as the dumps, RPO 30 hours) -> none',
      'vaultwarden: offsite RPO 30 hours -> 2 days',
      'host offsite: /srv/nfs synced to 192.168.1.13:/Backup/Viki/nfs -> not synced',
    ]);
    expect(counts).toEqual([8, 0]);
  });

  test('alert removals are risky and counted in the headline', () => {
    const text = review((p) => delete p.host.fileBackup.pfsense);
    const { risky, counts } = sections(text);
    expect(risky).toEqual(
      expect.arrayContaining([
        'alert PfsenseBackupStale (pfsense, config): no success for 36 hours, warning -> removed (nothing fires on it any more; routes and silences that name it stop matching)',
        'alert PfsenseBackupFailing (pfsense, config): last run failed for 15 minutes, warning -> removed (nothing fires on it any more; routes and silences that name it stop matching)',
        'alert PfsenseBackupNeverSucceeded (pfsense, config): no success ever reported for 36 hours, warning -> removed (nothing fires on it any more; routes and silences that name it stop matching)',
        'alert PfsenseBackupTooSmall (pfsense, config): newest copy under 0.5 x the largest in the last 7d, warning -> removed (nothing fires on it any more; routes and silences that name it stop matching)',
      ]),
    );
    expect(risky.filter((line) => line.startsWith('host fileBackup.pfsense.'))).not.toHaveLength(0);
    expect(counts).toEqual([risky.length, 0]);
  });

  test('risky items come first, then the others, each counted', () => {
    const text = review((p) => {
      p.services.postgresql.retention.keepWithin = '3d';
      p.services.mysql.retention.keepWithin = '30d';
    });
    const { risky, other, counts } = sections(text);
    expect(risky).toEqual(['postgresql: app-level dump copy at 192.168.1.127:/srv/nfs/postgresql-backup: retention 14 days, at least the newest 7 -> 3 days, at least the newest 7']);
    expect(other).toEqual(['mysql: app-level dump copy at 192.168.1.127:/srv/nfs/mysql-backup: retention 14 days, at least the newest 7 -> 30 days, at least the newest 7']);
    expect(counts).toEqual([1, 1]);
    expect(text.indexOf('### Protection lost or weakened')).toBeLessThan(text.indexOf('### Other changes'));
  });

  test('shorter host snapshot retention weakens the snapshot copy of every service that has one', () => {
    const { risky } = sections(review((p) => (p.host.snapshots.retention = '3d')));
    expect(risky).toEqual([
      'redis: lvm snapshot copy at thin pool pve/data on pve: retention 7 days -> 3 days',
      'vault: lvm snapshot copy at thin pool pve/data on pve: retention 7 days -> 3 days',
      'vaultwarden: lvm snapshot copy at thin pool pve/data on pve: retention 7 days -> 3 days',
      'host snapshots.retention: 7 days -> 3 days',
    ]);
  });

  test('a schedule change names the job gap, the layer RPO and the laxer alert threshold', () => {
    const { risky, other } = sections(review((p) => (p.services.vault.schedule = 'monthly')));
    expect(risky).toEqual([
      'vault: snapshot schedule "At 02:00, only on Sunday" -> "At 00:00, on day 1 of the month" (longest gap 7 days -> 31 days)',
      'vault: app-level dump RPO 7 days -> 31 days',
      'vault: offsite RPO stays 2 days; copy of the dumps via /srv/nfs: 8 days -> 32 days',
      'alert VaultBackupStale (vault, snapshot): no success for 8 days, warning -> no success for 32 days, warning',
      'alert VaultBackupNeverSucceeded (vault, snapshot): no success ever reported for 8 days, warning -> no success ever reported for 32 days, warning',
    ]);
    // A longer size window compares against older copies: not laxer, but shown.
    expect(other).toEqual(['alert VaultBackupTooSmall (vault, snapshot): newest copy under 0.5 x the largest in the last 28d, warning -> newest copy under 0.5 x the largest in the last 124d, warning']);
  });

  test('a tighter schedule is not risky', () => {
    const { risky, other } = sections(review((p) => (p.services.redis.schedule = 'daily at 03:30')));
    expect(risky).toEqual([]);
    expect(other).toEqual(
      expect.arrayContaining([
        'redis: snapshot schedule "At 03:00, only on Sunday" -> "At 03:30" (longest gap 7 days -> 24 hours)',
        'alert RedisBackupStale (redis, snapshot): no success for 8 days, warning -> no success for 36 hours, warning',
      ]),
    );
  });

  test('a critical service made non-critical: its alerts no longer page (risky, each rule)', () => {
    const critical = planPolicy(homelabWith((p) => (p.services.vault.critical = true)));
    const { risky } = sections(reviewPlans(critical, base, 'main'));
    expect(risky).toEqual(
      expect.arrayContaining([
        'vault: critical -> not critical (its alerts page no one; lint no longer requires an offsite copy)',
        'alert VaultBackupStale (vault, snapshot): no success for 8 days, critical -> no success for 8 days, warning',
      ]),
    );
  });

  test('services added and removed, with their layers and alerts', () => {
    const text = review((p) => {
      delete p.services.redis;
      p.services.immich = { engine: 'postgres', namespace: 'immich', connection: { host: 'immich-db.immich.svc', passwordSecret: { name: 'immich-db', key: 'password' } }, perDatabase: { schedule: 'daily at 01:30' }, retention: { keepWithin: '14d', keepLast: 7 } };
    });
    const { risky, other, counts } = sections(text);
    expect(risky).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^redis: service -> removed: its redis-backup CronJob/),
        'redis: lvm snapshot layer lost: thin pool pve/data on pve (redis/redis-data-redis-master-0, keeps 7 days, RPO 24 hours) -> none',
        expect.stringMatching(/^alert RedisBackupStale \(redis, snapshot\): no success for 8 days, warning -> removed/),
      ]),
    );
    expect(other).toEqual(
      expect.arrayContaining(['immich: service added (postgres, per-database At 01:30; layers: app-level dump, offsite; drilled At 04:00, only on Sunday)', 'alert ImmichBackupStale (immich, per-database): added (no success for 36 hours, warning)']),
    );
    expect(counts).toEqual([risky.length, other.length]);
  });

  test('a new coverage exclusion is risky: it hides PVCs from the gap check', () => {
    const { risky } = sections(review((p) => p.coverage.exclude.push({ namespace: 'nextcloud', reason: 'the photos are on the phones' })));
    expect(risky).toEqual(['coverage: nextcloud (every PVC) needs a backup -> excluded ("the photos are on the phones")']);
  });
});

describe('plan review: restore drills', () => {
  const drilledBase = planPolicy(homelabWith((p) => (p.drills = { schedule: 'weekly on sunday at 04:00' })));
  const drilledReview = (edit: (p: any) => void) =>
    sections(reviewPlans(drilledBase, planPolicy(homelabWith((p) => { p.drills = { schedule: 'weekly on sunday at 04:00' }; edit(p); })), 'main'));

  test('a service that stops being drilled is risky, per kind of copy, and its drill alerts go with it', () => {
    const { risky } = drilledReview((p) => (p.services.postgresql.drill = { enabled: false }));
    expect(risky).toEqual(
      expect.arrayContaining([
        'postgresql: restore drill of full copies ("At 04:00, only on Sunday") -> none (nothing proves these copies restore)',
        'postgresql: restore drill of per-database copies ("At 04:00, only on Sunday") -> none (nothing proves these copies restore)',
        expect.stringMatching(/^alert PostgreSQLRestoreDrillFailing \(postgresql, drill-full\): last run failed for 15 minutes, warning -> removed/),
      ]),
    );
  });

  test('a rarer drill is risky (before -> after, with the gaps); a more frequent one is not', () => {
    const rarer = drilledReview((p) => (p.services.redis.drill = { schedule: '0 4 1 * *' }));
    expect(rarer.risky).toEqual(expect.arrayContaining(['redis: restore drill of snapshot copies "At 04:00, only on Sunday" -> "At 04:00, on day 1 of the month" (longest gap 7 days -> 31 days)']));
    const oftener = drilledReview((p) => (p.services.redis.drill = { schedule: 'daily at 04:00' }));
    expect(oftener.risky.filter((c) => c.startsWith('redis: restore drill'))).toEqual([]);
    expect(oftener.other).toEqual(expect.arrayContaining(['redis: restore drill of snapshot copies "At 04:00, only on Sunday" -> "At 04:00" (longest gap 7 days -> 24 hours)']));
  });

  test('drills added to the policy show per service and kind, with their alerts', () => {
    const undrilled = planPolicy(homelabWith((p) => delete p.drills));
    const { other } = sections(reviewPlans(undrilled, drilledBase, 'main'));
    expect(other).toEqual(
      expect.arrayContaining([
        'etcd: restore drill of snapshot copies added ("At 04:00, only on Sunday")',
        'mysql: restore drill of per-database copies added ("At 04:00, only on Sunday")',
        'alert EtcdRestoreDrillStale (etcd, drill-snapshot): added (no success for 8 days, warning)',
      ]),
    );
  });

  test('a drill that stays but checks less, or runs with other settings, shows field by field', () => {
    const { other } = drilledReview((p) => (p.services.postgresql.drill = { queries: [{ sql: 'select count(*) from users', min: 1 }], scratchSize: '20Gi', timeout: '3h' }));
    expect(other).toEqual(
      expect.arrayContaining([
        'postgresql: drills.full.queries: none -> "select count(*) from users (>= 1)"',
        'postgresql: drills.full.scratchSize: "10Gi" -> "20Gi"',
        'postgresql: drills.full.timeout: 2 hours -> 3 hours',
      ]),
    );
  });
});

describe('plan review: nothing changes protection unseen', () => {
  /** Every leaf of the declaration with a path, so each can be changed on its own. */
  function leaves(value: unknown, path: (string | number)[] = []): (string | number)[][] {
    if (Array.isArray(value)) return value.length === 0 ? [path] : value.flatMap((v, i) => leaves(v, [...path, i]));
    if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]));
    return [path];
  }

  /** Plausible other values of the same kind: the parser decides which are valid. */
  function alternatives(value: unknown): unknown[] {
    if (typeof value === 'boolean') return [!value];
    if (typeof value === 'number') return [value + 1, Math.max(0, value - 1), value / 2];
    if (typeof value !== 'string') return [];
    if (/^\d+[smhd]$/.test(value)) return [`${Number.parseInt(value, 10) * 2}${value.slice(-1)}`, `${Math.max(1, Math.floor(Number.parseInt(value, 10) / 2))}${value.slice(-1)}`];
    if (/^(daily|weekly|hourly|every|monthly)|^[\d*]/.test(value)) return ['daily at 04:10', 'weekly on monday at 04:10', '10 */2 * * *'];
    if (value.startsWith('/')) return [`${value}-moved`];
    if (/^https?:/.test(value)) return [value.replace(/:\/\/[^/:]+/, '://changed.example.org')];
    if (/^\d+\.\d+\.\d+\.\d+$/.test(value)) return ['192.168.1.200'];
    return [`${value}x`, 'changed'];
  }

  const getIn = (obj: any, path: (string | number)[]) => path.reduce((o, k) => o?.[k], obj);
  function setIn(obj: any, path: (string | number)[], value: unknown) {
    const parent = getIn(obj, path.slice(0, -1));
    parent[path[path.length - 1]] = value;
  }

  /** What the generated documents, alert rules and host configuration say about protection. */
  function observable(plan: ReturnType<typeof planPolicy>): string {
    return JSON.stringify({
      matrix: renderProtectionMatrix(plan),
      rpo: renderRpoRto(plan),
      alerts: renderRulesFile(plan.alerts),
      host: plan.host?.config,
      jobs: plan.services.flatMap((s) => s.jobs.map((j) => [j.name, j.schedule.cron, j.env.find((e) => e.name.startsWith('BACKUP_KEEP'))?.value, j.image, j.timeout.totalSeconds])),
      drills: plan.services.flatMap((s) => s.drills.map((d) => [d.name, d.schedule.cron, d.image, d.timeout.totalSeconds, d.resources, d.volumes, d.env.find((e) => e.name === 'DRILL_QUERIES')?.value])),
      exclusions: plan.coverageExclusions,
    });
  }

  test('every single-field change of the homelab that alters a document, an alert, host.env or a job appears in the review', () => {
    const baseline = observable(base);
    let tried = 0;
    let changed = 0;
    const unseen: string[] = [];
    for (const path of leaves(homelabPolicy)) {
      for (const alternative of alternatives(getIn(homelabPolicy, path))) {
        const edited = structuredClone(homelabPolicy) as any;
        setIn(edited, path, alternative);
        let plan;
        try {
          plan = planPolicy(edited);
        } catch {
          continue;
        }
        tried += 1;
        if (observable(plan) === baseline) continue;
        changed += 1;
        if (planChanges(base, plan).length === 0) unseen.push(`${path.join('.')} = ${JSON.stringify(alternative)}`);
      }
    }
    expect(unseen).toEqual([]);
    // The walk really exercised the policy: most fields, and most of them visibly.
    expect(tried).toBeGreaterThan(100);
    expect(changed).toBeGreaterThan(60);
  });
});

describe('plan-review CLI', () => {
  test('compares the working tree with a git revision', () => {
    const repo = mkdtempSync(join(tmpdir(), 'bp-review-'));
    try {
      const git = (...args: string[]) => execFileSync('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=t', ...args], { cwd: repo });
      git('init', '-q');
      const file = join(repo, 'policy.yaml');
      writeFileSync(file, stringify(homelabPolicy));
      git('add', 'policy.yaml');
      git('commit', '-qm', 'base');
      writeFileSync(file, stringify(homelabWith((p) => (p.services.vault.retention.keepWithin = '7d'))));
      const result = spawnSync(process.execPath, [join(root, 'bin/backup-policy.js'), 'plan-review', '--base', 'HEAD', '--policy', file], { encoding: 'utf8' });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('## Backup policy review (against HEAD)\n\n1 risky change, 0 others.\n');
      expect(result.stdout).toContain('- ⚠️ vault: app-level dump copy at 192.168.1.127:/srv/nfs/vault-backup: retention 30 days, at least the newest 4 -> 7 days, at least the newest 4');
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  test('a base the current schema refuses still gets a review that says so, and the job stays green', () => {
    const repo = mkdtempSync(join(tmpdir(), 'bp-review-old-'));
    try {
      const git = (...args: string[]) => execFileSync('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=t', ...args], { cwd: repo });
      git('init', '-q');
      const file = join(repo, 'policy.yaml');
      // Written for an older schema: root was a plain runAsUser: 0 then.
      writeFileSync(file, stringify(homelabWith((p) => { delete p.services.vaultwarden.runAsRoot; p.services.vaultwarden.runAsUser = 0; })));
      git('add', 'policy.yaml');
      git('commit', '-qm', 'base');
      writeFileSync(file, stringify(homelabPolicy));
      const result = spawnSync(process.execPath, [join(root, 'bin/backup-policy.js'), 'plan-review', '--base', 'HEAD', '--policy', file], { encoding: 'utf8' });
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('⚠️ The policy at HEAD does not parse with this revision\'s schema');
      expect(result.stdout).toContain('- services.vaultwarden.runAsUser: root is not a plain setting, received 0');
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });
});
