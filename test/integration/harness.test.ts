/**
 * The harness's own promises: a pod sees what the CronJob declares and nothing of the test machine.
 * These run the CronJobs' pods with their command replaced by probes; everything else (volumes,
 * environment, user, DNS, deadline) comes from the synthesized stack as in the engine suites.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cronJob, runJob, startPod, TestCluster } from '../harness/cronjob-harness';
import { HOST, SECRETS, testCluster } from '../harness/test-policy';
import { scriptsDir } from '../../policy/io/scripts';

let cluster: TestCluster;
const dirs: string[] = [];

function newDir(label: string, owner = 10001): string {
  const d = fs.mkdtempSync(`/tmp/bp-h-${label}-`);
  fs.chownSync(d, owner, owner);
  dirs.push(d);
  return d;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

beforeAll(() => {
  cluster = testCluster({ pushgateway: 9091, postgres: 5432, etcdTls: 2379 }, {
    'postgresql-backup': newDir('pg'),
    'etcd-backup': newDir('etcd'),
    'vaultwarden-backup': newDir('vw', 0),
    'vaultwarden-data': newDir('vwdata', 0),
  }, { 'etcd-backup-client': { 'ca.crt': 'CA', 'tls.crt': 'CRT', 'tls.key': 'KEY' } });
});

afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function probe(job: string, script: string, opts: { hosts?: Record<string, string> } = {}) {
  const r = await startPod(cluster, job, { command: ['/bin/bash', '-c', script], ...opts }).result;
  return r;
}

describe('a pod run by the harness', () => {
  it('runs in the image\'s root filesystem: trixie, its clients, its users, and nothing of the host', async () => {
    const r = await probe('postgresql-full-backup', [
      'echo "debian $(cat /etc/debian_version)"',
      'pg_dump --version; mariadb-dump --version; redis-cli --version; etcdctl version | head -1; sqlite3 --version | cut -d" " -f1',
      'grep -c . /etc/passwd >/dev/null && getent passwd 10001',
      'ls /usr/local/bin | wc -l',
      `test -e ${JSON.stringify(path.resolve(__dirname))} && echo host-visible || echo host-hidden`,
    ].join('\n'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^debian 13\./);
    expect(r.stdout).toMatch(/pg_dump \(PostgreSQL\) 17\./);
    expect(r.stdout).toMatch(/from 11\.8\.\d+-MariaDB/);
    expect(r.stdout).toMatch(/redis-cli 8\./);
    expect(r.stdout).toMatch(/etcdctl version: 3\.5\./);
    expect(r.stdout).toMatch(/\n3\.46\./);
    expect(lines).toContain('backup-job:x:10001:10001::/nonexistent:/usr/sbin/nologin');
    // This machine keeps tools in /usr/local/bin (terraform); the image has none.
    expect(lines).toContain('0');
    expect(lines).toContain('host-hidden');
  });

  it('gets the ConfigMap scripts byte for byte, through the kubelet\'s ..data symlinks, read-only', async () => {
    const r = await probe('postgresql-full-backup', [
      'cd /opt/backup-policy',
      'for f in *.sh; do printf "%s %s\\n" "$f" "$(sha256sum < "$f" | cut -d" " -f1)"; done',
      'readlink ..data >/dev/null && echo has-data-link',
      'stat -L -c "mode %a" postgres-backup.sh',
      'touch /opt/backup-policy/x 2>/dev/null || echo read-only',
    ].join('\n'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const sums = Object.fromEntries(lines.filter((l) => /^\S+\.sh [0-9a-f]{64}$/.test(l)).map((l) => l.split(' ')));
    expect(Object.keys(sums).sort()).toEqual(['backup-lib.sh', 'drill-lib.sh', 'postgres-backup.sh', 'postgres-drill.sh', 'postgres-restore.sh']);
    for (const [file, sum] of Object.entries(sums)) expect(sum).toBe(sha256(fs.readFileSync(path.join(scriptsDir(), file))));
    expect(lines).toContain('has-data-link');
    expect(lines).toContain('mode 555');
    expect(lines).toContain('read-only');
  });

  it('runs as the CronJob\'s user with no capabilities, no_new_privs and a read-only root; /tmp and /backup are writable', async () => {
    const r = await probe('postgresql-full-backup', [
      'echo "uid $(id -u) gid $(id -g) groups $(id -G) user $(id -un)"',
      'grep -E "^(CapEff|CapBnd|NoNewPrivs):" /proc/self/status',
      'touch /rootfs-probe 2>/dev/null || echo "root read-only"',
      'touch /tmp/probe && echo "tmp writable"',
      'touch /backup/probe && echo "backup writable"',
      'echo "pid $$ home $HOME host $(hostname)"',
    ].join('\n'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('uid 10001 gid 10001 groups 10001 user backup-job');
    expect(r.stdout).toMatch(/CapEff:\s+0{16}/);
    expect(r.stdout).toMatch(/CapBnd:\s+0{16}/);
    expect(r.stdout).toMatch(/NoNewPrivs:\s+1/);
    expect(r.stdout).toContain('root read-only');
    expect(r.stdout).toContain('tmp writable');
    expect(r.stdout).toContain('backup writable');
    // The job's shell is PID 1, as in a container.
    // HOME as the runtime derives it from the image's passwd (images/backup-tools/configure-rootfs.sh).
    expect(r.stdout).toContain(`pid 1 home /nonexistent host ${r.podName}`);
    expect(fs.existsSync('/rootfs-probe')).toBe(false);
    expect(r.tmpLeftovers).toEqual(['probe']);
  });

  it('has exactly the CronJob\'s environment, with Secret references resolved and nothing from the test process', async () => {
    const r = await probe('postgresql-full-backup', 'env -0');
    expect(r.code).toBe(0);
    const env = Object.fromEntries(r.stdout.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    const view = cronJob(cluster.stack, 'postgresql-full-backup');
    const declared = Object.fromEntries(view.env.map((e) => [e.name, e.value_from ? SECRETS.postgres : e.value]));
    // bash adds PWD, SHLVL and _ itself; the image adds PATH and HOME, the runtime HOSTNAME.
    const { PWD, SHLVL, _, PATH, HOME, HOSTNAME, ...rest } = env;
    expect(rest).toEqual(declared);
    expect(PATH).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    expect(HOSTNAME).toBe(r.podName);
    expect(env.PGHOST).toBe(HOST.postgres);
    expect(env.JEST_WORKER_ID).toBeUndefined();
  });

  it('resolves the cluster names it was given to loopback, and fails an unknown name at once', async () => {
    const started = Date.now();
    const r = await probe('postgresql-full-backup', [
      `getent hosts ${HOST.postgres}`,
      `getent hosts ${HOST.pushgateway}`,
      'getent hosts nosuch.dbaas.svc.cluster.local || echo "unknown: $?"',
    ].join('\n'), { hosts: { [HOST.pushgateway]: '127.0.0.2' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`127.0.0.1       ${HOST.postgres}`);
    expect(r.stdout).toContain(`127.0.0.2       ${HOST.pushgateway}`);
    expect(r.stdout).toContain('unknown: 2');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('gives a host-network pod without ClusterFirstWithHostNet the node\'s resolver, which knows no cluster names', async () => {
    const view = cronJob(cluster.stack, 'etcd-backup');
    expect(view.hostNetwork).toBe(true);
    const r = await probe('etcd-backup', `getent hosts ${HOST.pushgateway} || echo "unresolved: $?"`);
    expect(r.stdout).toContain(view.dnsPolicy === 'ClusterFirstWithHostNet' ? HOST.pushgateway : 'unresolved: 2');
  });

  it('writes Secret volume files root-owned with default_mode, group-readable only under an fsGroup, as the kubelet does', async () => {
    const view = cronJob(cluster.stack, 'etcd-backup');
    const r = await probe('etcd-backup', 'stat -L -c "%a %u %g %n" /etc/backup-policy/etcd-tls/tls.key; cat /etc/backup-policy/etcd-tls/tls.key 2>&1 || true');
    if (view.fsGroup === undefined) {
      expect(r.stdout).toContain('400 0 0 /etc/backup-policy/etcd-tls/tls.key');
      expect(r.stdout).toContain('Permission denied');
    } else {
      expect(r.stdout).toContain(`440 0 ${view.fsGroup} /etc/backup-policy/etcd-tls/tls.key`);
      expect(r.stdout).toContain('KEY');
    }
  });

  it('runs a root job as root with every capability dropped: files of other users stay closed', async () => {
    const other = newDir('other');
    fs.writeFileSync(path.join(other, 'secret'), 'x', { mode: 0o600 });
    const r = await startPod(cluster, 'vaultwarden-backup', {
      command: ['/bin/bash', '-c', 'id -u; cat /data/secret 2>&1 || echo denied'],
      claims: { 'vaultwarden-data': other },
    }).result;
    expect(r.stdout.trim().split('\n')).toEqual(['0', expect.stringContaining('Permission denied'), 'denied']);
  });
});

describe('activeDeadlineSeconds', () => {
  it('sends SIGTERM to PID 1 only and lets it exit within the grace period', async () => {
    const r = await startPod(cluster, 'postgresql-full-backup', {
      command: ['/bin/bash', '-c', 'trap "echo got TERM; exit 143" TERM; sleep 30 & wait'],
      activeDeadlineSeconds: 1,
      terminationGracePeriodSeconds: 5,
    }).result;
    expect(r.deadlineExceeded).toBe(true);
    expect(r.killedAfterGrace).toBe(false);
    expect(r.stdout).toBe('got TERM\n');
    expect(r.code).toBe(143);
    expect(r.durationMs).toBeLessThan(4000);
  });

  it('SIGKILLs the whole pod after the grace period when PID 1 has no SIGTERM handler (PID 1 ignores it)', async () => {
    const started = Date.now();
    const r = await startPod(cluster, 'postgresql-full-backup', {
      command: ['/bin/bash', '-c', 'sleep 30; echo survived'],
      activeDeadlineSeconds: 1,
      terminationGracePeriodSeconds: 1,
    }).result;
    expect(r.deadlineExceeded).toBe(true);
    expect(r.killedAfterGrace).toBe(true);
    expect(r.stdout).toBe('');
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(6000);
  });
});

describe('runJob', () => {
  it('retries a failed pod up to backoff_limit and stops at the first success', async () => {
    const view = cronJob(cluster.stack, 'postgresql-full-backup');
    const failing = await runJob(cluster, 'postgresql-full-backup', { command: ['/bin/false'] });
    expect(failing.attempts).toHaveLength(view.backoffLimit + 1);
    expect(failing.succeeded).toBe(false);
    const passing = await runJob(cluster, 'postgresql-full-backup', { command: ['/bin/true'] });
    expect(passing.attempts).toHaveLength(1);
    expect(passing.succeeded).toBe(true);
  });
});
