import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { lintPlan, lintWarnings } from '../../policy/checks/lint';
import { planPolicy } from '../../policy/plan/plan';
import { DEFAULT_IMAGE, DRILL_IMAGE } from '../../policy/engines/engine';
import { packageRoot } from '../../policy/io/scripts';
import { homelabPolicy } from '../../stacks/homelab-policy';

const root = packageRoot();

// The PVC coverage and plan-review cases live in test/review/.

function homelabWith(edit: (p: any) => void): any {
  const copy = structuredClone(homelabPolicy);
  edit(copy);
  return copy;
}

function lint(input: unknown) {
  return lintPlan(planPolicy(input)).map((f) => `${f.path}: ${f.message}`);
}

describe('lint', () => {
  test('the bundled homelab is clean', () => {
    expect(lint(homelabPolicy)).toEqual([]);
  });

  test.each<[string, (p: any) => void, string, string]>([
    ['a schedule gap exceeds the declared RPO', (p) => (p.services.postgresql.rpo = '12h'), 'services.postgresql.rpo', 'more than the declared RPO of 12 hours'],
    ['retention keeps fewer than two runs', (p) => (p.services.redis.retention = { keepWithin: '7d', keepLast: 1 }), 'services.redis.retention', 'keeps fewer than two runs'],
    ['two jobs hit the same server in one window', (p) => (p.services.postgresql.perDatabase.schedule = 'daily at 00:05'), 'services.postgresql', 'both hit postgresql.dbaas.svc.cluster.local:5432 within 15 minutes'],
    ['a critical service has no offsite copy', (p) => { p.services.postgresql.critical = true; p.services.postgresql.nfsPath = '/srv/backups/postgresql'; }, 'services.postgresql', 'marked critical but has no offsite copy'],
    ['a service has no copy outside its own disk', (p) => (p.services.mysql.nfsPath = '/srv/backups/mysql'), 'services.mysql', 'no copy outside its own disk'],
    ['host snapshots keep fewer than two', (p) => (p.host.snapshots.retention = '1d'), 'host.snapshots.retention', 'fewer than two remain'],
    ['a critical service is never drilled', (p) => { p.services.postgresql.critical = true; p.services.postgresql.drill = { enabled: false }; }, 'services.postgresql.drill', 'marked critical but never drilled'],
    ['a drill starts beside its own backup job', (p) => (p.drills = { schedule: 'daily at 00:05' }), 'services.postgresql.drill.schedule', 'postgresql-full-drill and postgresql-full-backup start within 15 minutes of each other'],
    ['a weekly drill falls into the spring-forward gap', (p) => (p.drills = { schedule: 'weekly on sunday at 01:30' }), 'services.etcd.drill.schedule', 'etcd-drill ("weekly on sunday at 01:30") runs at 2026-03-29 01:30 Europe/London, a time the clock skips'],
  ])('fails when %s', (_name, edit, path, words) => {
    const findings = lint(homelabWith(edit));
    // The homelab is clean, so every finding comes from the edit; at least one must be the rule's.
    expect(findings).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${path.replace(/\./g, '\\.')}: .*${words.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))]));
  });
});

describe('lint and the SSH host key', () => {
  test('deploying without checking the host key is reported; a missing key is left to the deploy, which refuses', () => {
    const unchecked = lint(homelabWith((p) => (p.host.acceptUnknownHostKey = true)));
    expect(unchecked).toEqual([expect.stringMatching(/^host\.acceptUnknownHostKey: the deploy connects to 192\.168\.1\.127 without checking its SSH host key/)]);
    expect(lint(homelabWith((p) => (p.host.hostKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIkey')))).toEqual([]);
  });
});

describe('lint warnings', () => {
  test('root jobs and root restore Jobs are reported with their reason, and an image pinned by tag only is named', () => {
    const warnings = lintWarnings(planPolicy(homelabPolicy)).map((w) => `${w.path}: ${w.message}`);
    expect(warnings.slice(0, 3)).toEqual([
      "services.vaultwarden.runAsRoot: its jobs run as root: Vaultwarden's image writes its data as root, and reading a WAL database needs write access to its -shm file",
      "services.etcd: its restore Job runs as root: etcd's data directory /var/lib/etcd belongs to root on the node (kubeadm runs etcd as root), and the restore replaces it",
      expect.stringContaining(`images: ${DEFAULT_IMAGE} is pinned by tag only (used by etcd, mysql, postgresql, redis, vault, vaultwarden): `),
    ]);
    const pinned = homelabWith((p) => (p.images = Object.fromEntries(['postgres', 'mysql', 'etcd', 'vault', 'redis', 'sqlite'].map((e) => [e, `ghcr.io/backup-policy/backup-tools@sha256:${'a'.repeat(64)}`]))));
    expect(lintWarnings(planPolicy(pinned)).map((w) => w.path).filter((p) => p === 'images')).toEqual([]);
  });

  test('the drill image pinned by tag only is named once, at drills.image', () => {
    const drilled = homelabWith((p) => (p.drills = { schedule: 'weekly on sunday at 04:00' }));
    expect(lintWarnings(planPolicy(drilled)).filter((w) => w.path === 'drills.image').map((w) => w.message)).toEqual([
      `${DRILL_IMAGE} is pinned by tag only (used by etcd, mysql, postgresql, redis, vault, vaultwarden): a tag can be pushed again with other contents; pin the digest the image workflow prints (drills: { image: "<repository>@sha256:<digest>" })`,
    ]);
    drilled.drills.image = `ghcr.io/backup-policy/backup-drill@sha256:${'b'.repeat(64)}`;
    expect(lintWarnings(planPolicy(drilled)).filter((w) => w.path === 'drills.image')).toEqual([]);
  });

  test('root is never a plain runAsUser: 0', () => {
    expect(() => planPolicy(homelabWith((p) => { delete p.services.vaultwarden.runAsRoot; p.services.vaultwarden.runAsUser = 0; }))).toThrow(/services\.vaultwarden\.runAsUser: root is not a plain setting, received 0/);
  });

  test('the CLI prints warnings and still exits 0 on a clean policy', () => {
    const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), 'lint'], { encoding: 'utf8' });
    expect(r.stderr).toContain('warning: services.vaultwarden.runAsRoot: its jobs run as root');
    expect(r.status).toBe(0);
  });
});

describe('lint and daylight saving', () => {
  test('a weekly job in the spring-forward gap is a finding: it would be skipped once a year', () => {
    const findings = lint(homelabWith((p) => (p.services.etcd.schedule = 'weekly on sunday at 01:00')));
    expect(findings).toEqual([
      'services.etcd: etcd-backup ("weekly on sunday at 01:00") runs at 2026-03-29 01:00 Europe/London, a time the clock skips (daylight saving): the Kubernetes CronJob controller and systemd both skip that run, leaving 14 days without a copy once a year; schedule it outside the switch hour',
    ]);
  });

  test('the same job in UTC, or at 02:30, is clean; an hourly job in the gap only warns', () => {
    expect(lint(homelabWith((p) => { p.services.etcd.schedule = 'weekly on sunday at 01:00'; p.timeZone = 'UTC'; p.host.timeZone = 'Europe/London'; }))).toEqual([]);
    expect(lint(homelabPolicy)).toEqual([]);
    const warnings = lintWarnings(planPolicy(homelabPolicy)).filter((w) => w.path === 'services.vaultwarden').map((w) => w.message);
    expect(warnings).toEqual([expect.stringContaining('runs at 2026-03-29 01:30 Europe/London, a time the clock skips'), expect.stringContaining('runs at 2026-10-25 01:30 Europe/London, an hour the clock repeats')]);
  });

  test('host timers are checked in the host\'s own zone', () => {
    const findings = lint(homelabWith((p) => { p.host.timeZone = 'America/New_York'; p.host.offsite.schedule = 'weekly on sunday at 02:30'; }));
    expect(findings).toEqual([expect.stringMatching(/^host\.offsite-sync-backup: offsite-sync-backup \("weekly on sunday at 02:30"\) runs at 2026-03-08 02:30 America\/New_York, a time the clock skips/)]);
  });
});
