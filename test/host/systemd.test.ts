/**
 * The rendered units: one snapshot per file, checked by the real systemd-analyze (verify on an
 * installed bundle, calendar on every OnCalendar, the offline security score), and the ordering
 * the spec asks for.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { planPolicy } from '../../policy/plan/plan';
import type { HostPlan } from '../../policy/plan/host-plan';
import { renderHostBundle } from '../../policy/render/host-bundle';
import { writeHostBundle } from '../../policy/io/write-bundle';
import { renderHostConfig, renderHostUnits } from '../../policy/render/systemd';
import { readScript } from '../../policy/io/scripts';
import { Schedule } from '../../policy/values/schedule';
import { homelabPolicy } from '../../stacks/homelab-policy';
import { run } from '../support/servers';

const plan: HostPlan = planPolicy(homelabPolicy).host!;
const units = renderHostUnits(plan);

/** A root filesystem with systemd's own units and the installed bundle, for `verify --root`. */
function installedRoot(files = renderHostBundle(plan, readScript)): string {
  const root = fs.mkdtempSync('/tmp/bp-host-root-');
  fs.mkdirSync(path.join(root, 'usr/lib/systemd'), { recursive: true });
  // verify --root resolves After=/WantedBy= targets inside the root, so they must be there.
  fs.cpSync('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  const bundle = path.join(root, 'bundle');
  writeHostBundle(bundle, files);
  execFileSync('bash', [path.join(bundle, 'install.sh'), '--root', root]);
  return root;
}

describe('rendered units', () => {
  test.each(Object.keys(units))('%s', (name) => {
    expect(units[name]).toMatchSnapshot(name);
  });

  test('host.env', () => {
    expect(renderHostConfig(plan)).toMatchSnapshot('host.env');
  });

  test('one service per job, timers for the scheduled ones, names from the spec', () => {
    expect(Object.keys(units)).toEqual([
      'lvm-pvc-snapshot.service',
      'lvm-pvc-snapshot.timer',
      'daily-backup.service',
      'daily-backup.timer',
      'offsite-sync-backup.service',
      'offsite-sync-backup.timer',
      'nfs-change-tracker.service',
    ]);
  });

  test('timers: OnCalendar in the host zone, Persistent, a randomized delay', () => {
    for (const job of plan.jobs) {
      const timer = units[`${job.name}.timer`];
      expect(timer).toContain(`OnCalendar=${job.onCalendar}\n`);
      expect(job.onCalendar.endsWith(' Europe/London')).toBe(true);
      expect(timer).toContain('Persistent=true\n');
      expect(timer).toContain('RandomizedDelaySec=300\n');
      expect(timer).toContain('WantedBy=timers.target\n');
    }
  });

  test('oneshot services with a timeout shorter than the gap between runs', () => {
    for (const job of plan.jobs) {
      const service = units[`${job.name}.service`];
      expect(service).toContain('Type=oneshot\n');
      const timeout = Number(/TimeoutStartSec=(\d+)/.exec(service)![1]);
      expect(timeout).toBe(job.timeout.totalSeconds);
      expect(timeout).toBeLessThan(job.schedule.shortestGap.totalSeconds);
    }
  });

  test('ordered as the spec orders them: snapshots, then the file backup, then offsite', () => {
    expect(units['daily-backup.service']).toContain('After=lvm-pvc-snapshot.service\n');
    expect(units['offsite-sync-backup.service']).toContain('After=daily-backup.service nfs-change-tracker.service\n');
    expect(units['offsite-sync-backup.service']).toContain('Wants=nfs-change-tracker.service\n');
    // Wants=daily-backup.service would start a second daily backup after the morning's.
    expect(units['offsite-sync-backup.service']).not.toMatch(/Wants=.*daily-backup/);
    expect(units['daily-backup.service']).toContain('RequiresMountsFor=/mnt/backup\n');
  });

  test('each job gets the sandbox it can afford', () => {
    expect(units['nfs-change-tracker.service']).toContain('PrivateNetwork=yes\n');
    expect(units['nfs-change-tracker.service']).toContain('ProtectHome=yes\n');
    expect(units['nfs-change-tracker.service']).toContain('Restart=always\n');
    expect(units['offsite-sync-backup.service']).toContain('PrivateDevices=yes\n');
    expect(units['offsite-sync-backup.service']).toContain('ReadWritePaths=/mnt/backup\n');
    // LVM needs the real devices and its metadata directories.
    expect(units['lvm-pvc-snapshot.service']).not.toContain('PrivateDevices');
    expect(units['lvm-pvc-snapshot.service']).toContain('ReadWritePaths=-/etc/lvm -/run/lvm -/run/lock/lvm\n');
    for (const unit of Object.values(units).filter((u) => u.includes('[Service]'))) {
      expect(unit).toContain('ProtectSystem=strict\n');
      expect(unit).toContain('NoNewPrivileges=yes\n');
    }
  });
});

describe('systemd-analyze', () => {
  let root: string;
  beforeAll(() => {
    root = installedRoot();
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('verify --man=no accepts every unit of the installed bundle, without a warning', async () => {
    const names = Object.keys(units).map((u) => path.join(root, 'etc/systemd/system', u));
    const r = await run('systemd-analyze', ['verify', '--man=no', `--root=${root}`, ...names]);
    expect({ code: r.code, output: r.stdout + r.stderr }).toEqual({ code: 0, output: '' });
  });

  test('verify is live: it reports an unknown key and a missing ExecStart binary', async () => {
    const broken = path.join(root, 'etc/systemd/system/broken.service');
    fs.writeFileSync(broken, units['daily-backup.service'].replace('Type=oneshot', 'Type=oneshot\nTimeoutStartSeconds=5').replace('daily-backup.sh', 'missing.sh'));
    try {
      const r = await run('systemd-analyze', ['verify', '--man=no', `--root=${root}`, broken]);
      expect(r.stderr).toContain("Unknown key 'TimeoutStartSeconds'");
      expect(r.stderr).toContain('missing.sh');
      expect(r.code).not.toBe(0);
    } finally {
      fs.rmSync(broken);
    }
  });

  test.each(plan.jobs.map((j) => [j.name, j.onCalendar]))('calendar accepts %s: %s', async (_name, spec) => {
    const r = await run('systemd-analyze', ['calendar', spec]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Normalized form: ${spec}`);
    expect(r.stdout).toMatch(/Next elapse: .+/);
  });

  test.each(['hourly', 'every 6h', 'every 15m', 'weekly on sunday at 01:00', 'monthly', '30 2 1,15 * *', '0 4 * * 1-5'])(
    'calendar accepts the OnCalendar of "%s" in a zone, with the same next run as cron',
    async (text) => {
      const schedule = Schedule.parse(text);
      const spec = `${schedule.toOnCalendar()} Europe/London`;
      const r = await run('systemd-analyze', ['calendar', '--iterations=3', spec], { env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' } });
      expect({ spec, code: r.code, stderr: r.stderr }).toEqual({ spec, code: 0, stderr: '' });
      // systemd's next three runs equal cron's in the same zone.
      const systemd = [...r.stdout.matchAll(/(?:Next elapse|Iter\. #\d): \w{3} (\S+ \S+) UTC/g)].map((m) => m[1]);
      const now = new Date();
      const cron = schedule
        .runsBetween(now, new Date(now.getTime() + (3 * schedule.longestGap.totalSeconds + 86400) * 1000), 'Europe/London')
        .slice(0, 3)
        .map((d) => d.toISOString().replace('T', ' ').slice(0, 19));
      expect(systemd).toEqual(cron);
    },
  );

  test('the offline security score keeps the network-facing jobs well sandboxed', async () => {
    const scores: Record<string, number> = {};
    for (const unit of Object.keys(units).filter((u) => u.endsWith('.service'))) {
      const r = await run('systemd-analyze', ['security', '--offline=true', `--root=${root}`, '--no-pager', unit]);
      scores[unit] = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout)![1]);
    }
    expect(scores['nfs-change-tracker.service']).toBeLessThanOrEqual(3.5);
    expect(scores['offsite-sync-backup.service']).toBeLessThanOrEqual(4.0);
    // The LVM jobs keep /dev and mount rights; still better than an unsandboxed root service (9.6).
    expect(scores['lvm-pvc-snapshot.service']).toBeLessThanOrEqual(7);
    expect(scores['daily-backup.service']).toBeLessThanOrEqual(7);
  });
});
