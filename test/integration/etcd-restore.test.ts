/**
 * Restore is code, for etcd: the restore Job that `backup-policy restore` renders for a service with
 * a declared `member`, run by the harness inside the backup-tools image (its etcdctl 3.5) as root,
 * with the node's directory holding the data directory (hostPath `/var/lib`) mapped to a test
 * directory. For etcd 3.4 and 3.5: the rendered backup CronJob takes the copy; while etcd runs the
 * Job refuses; with etcd stopped it refuses to replace the member without --yes and replaces it with;
 * on a fresh node it restores without asking. etcd is then started on the restored directory with
 * the member's flags, and every key, value, revision and past revision is compared with the source
 * at backup time, and the member must advertise the declared peer URL.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, Pushgateway, runOk, serverCommand, SERVER_VERSIONS, startPushgateway, waitUntil } from '../support/servers';
import { allFiles, seriesIn } from '../support/run-script';
import { jobManifestView, runJob, type TestCluster } from '../harness/cronjob-harness';
import { HOST, testCluster, testPolicy, type TestPorts } from '../harness/test-policy';
import { etcdFingerprint } from '../harness/etcd-servers';
import { groupValues } from '../harness/pushgateway';
import { seedEtcd } from '../harness/seeds';
import { recordTiming } from '../harness/timings';
import { planPolicy } from '../../policy/plan/plan';
import { renderRestoreJob, type RestoreRequest } from '../../policy/render/restore-job';
import type { BackupPolicyInput } from '../../policy/parse/policy-schema';
import { synthStack } from '../support/synth';

const MEMBER = 'cp-1';
const NODE_DIR = '/var/lib';
const DATA_DIR = '/var/lib/etcd';

/** One etcd member on loopback, run from `version`'s binaries, on a data directory that outlives it. */
interface Member {
  child: ChildProcess;
  endpoint: string;
  ctl(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

async function startMember(version: string, dataDir: string, clientPort: number, peerPort: number, log: string): Promise<Member> {
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const fd = fs.openSync(log, 'a');
  // The member's own flags, as a static pod manifest would give them: they matter only to a new
  // member; a restored data directory brings its own name and peer URL.
  const [cmd, args] = serverCommand('etcd', version, ['etcd', '--name', MEMBER, '--data-dir', dataDir,
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `${MEMBER}=${peer}`, '--unsafe-no-fsync']);
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const ctl = (...a: string[]) => {
    const [c, argv] = serverCommand('etcd', version, ['etcdctl', ...a]);
    return runOk(c, argv, { env: { ...process.env, ETCDCTL_API: '3', ETCDCTL_ENDPOINTS: endpoint } });
  };
  await waitUntil(() => ctl('endpoint', 'health').then(() => true, () => false), 20000, `etcd ${version} healthy`).catch((e: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n${fs.readFileSync(log, 'utf8').slice(-2000)}`);
  });
  return {
    child, endpoint, ctl,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      // SIGTERM: etcd closes its database, as when the kubelet stops the static pod.
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Keys etcdctl's command line cannot carry (bytes that are not UTF-8, NUL), and one key with many revisions, via the JSON gateway. */
async function seedBinary(endpoint: string): Promise<{ key: string; rev: number }[]> {
  const put = async (key: Buffer, value: Buffer) => {
    const r = await fetch(`${endpoint}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: key.toString('base64'), value: value.toString('base64') }) });
    if (!r.ok) throw new Error(`put: HTTP ${r.status}`);
    return Number(((await r.json()) as { header: { revision: string } }).header.revision);
  };
  await put(Buffer.from([0x00, 0x01, 0xff, 0xfe, 0x2f, 0x80]), Buffer.from([0x00, 0xff, 0x00, 0x10, 0x0a, 0x0d]));
  await put(Buffer.from('/registry/bin/\u0001\u007f\u00e9'), Buffer.from(Array.from({ length: 256 }, (_v, i) => i)));
  let rev = 0;
  for (let i = 0; i < 400; i++) rev = await put(Buffer.from('/registry/leases/kube-node-lease/cp-1'), Buffer.from(`renew ${i}`));
  return [{ key: '/registry/leases/kube-node-lease/cp-1', rev: rev - 200 }];
}

describe.each(SERVER_VERSIONS.etcd)('etcd %s: the rendered restore Job on the member\'s node', (version) => {
  let pgw: Pushgateway;
  let ports: TestPorts;
  let nfs: string;
  /** The test directory standing for the node's /var/lib. */
  let node: string;
  let peerPort: number;
  let clientPort: number;
  let source: Member;
  let history: { key: string; rev: number }[];
  let atBackup: Awaited<ReturnType<typeof etcdFingerprint>>;
  let copy: string;
  let backupSeconds: number;
  const cleanups: (() => Promise<void> | void)[] = [];

  const tempDir = (label: string, owner = 0) => {
    const d = fs.mkdtempSync(`/tmp/bp-it-etcd-restore-${label}-`);
    fs.chownSync(d, owner, owner);
    cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
    return d;
  };

  /** The test homelab policy with the etcd-plain service declaring its member. */
  const policy = (waitForStop: string): BackupPolicyInput => {
    const p = testPolicy(ports) as any;
    p.services['etcd-plain'].member = { name: MEMBER, peerUrl: `http://127.0.0.1:${peerPort}`, dataDir: DATA_DIR, waitForStop };
    return p;
  };

  async function restore(request: Partial<RestoreRequest>, nodeDir: string, waitForStop = '30s') {
    const p = policy(waitForStop);
    const service = planPolicy(p).services.find((s) => s.id === 'etcd-plain')!;
    const view = jobManifestView(renderRestoreJob(service, { mode: 'snapshot', copy: 'latest', overwrite: false, ...request }, new Date()));
    expect(view.runAsUser).toBe(0);
    const cluster: TestCluster = { ...testCluster(ports, { 'etcd-plain-backup': nfs }), stack: synthStack(p), hostPaths: { [NODE_DIR]: nodeDir } };
    const job = await runJob(cluster, view.name, { job: view });
    expect(job.attempts).toHaveLength(1);
    return job.attempts[0];
  }

  /** etcd started on the restored directory with the member's flags: the keys, and who it says it is. */
  async function startRestored(nodeDir: string) {
    const member = await startMember(version, path.join(nodeDir, 'etcd'), clientPort, peerPort, path.join(nodeDir, `restored-${Date.now()}.log`));
    cleanups.push(() => member.stop());
    try {
      const got = await etcdFingerprint(member.ctl, history);
      const members = JSON.parse(await member.ctl('member', 'list', '-w', 'json')).members as { name: string; peerURLs: string[] }[];
      return { got, members };
    } finally {
      await member.stop();
    }
  }

  beforeAll(async () => {
    pgw = await startPushgateway();
    cleanups.push(() => pgw.stop());
    [peerPort, clientPort] = [await freePort(), await freePort()];
    node = tempDir('node');
    source = await startMember(version, path.join(node, 'etcd'), clientPort, peerPort, path.join(node, 'source.log'));
    cleanups.push(() => source.stop());
    history = await seedEtcd({ ETCDCTL_API: '3', ETCDCTL_ENDPOINTS: source.endpoint }, 1000);
    history.push(...(await seedBinary(source.endpoint)));
    ports = { pushgateway: Number(new URL(pgw.url).port), etcdPlain: clientPort };
    nfs = tempDir('nfs', 10001);
    const backup = await runJob({ ...testCluster(ports, { 'etcd-plain-backup': nfs }), stack: synthStack(policy('30s')) }, 'etcd-plain-backup');
    expect(backup.succeeded).toBe(true);
    backupSeconds = backup.attempts[0].durationMs / 1000;
    [copy] = seriesIn(nfs, 'snapshot_', '.db.zst');
    atBackup = await etcdFingerprint(source.ctl, history);
    expect(atBackup.keys.length).toBeGreaterThan(1000);
    // Written after the copy: the restore must take them away again.
    await source.ctl('put', '/registry/after-the-backup', 'gone after the restore');
  }, 180000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('refuses while etcd runs on the data directory, says how to stop it, and changes nothing', async () => {
    const before = allFiles(node);
    const pod = await restore({ overwrite: true }, node, '2s');
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toContain(`etcd is still running on ${DATA_DIR} (it holds the lock on ${DATA_DIR}/member/snap/db)`);
    expect(pod.stderr).toContain('mv /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests.stopped/');
    expect(allFiles(node)).toEqual(before);
    expect((await source.ctl('get', '/registry/after-the-backup', '--print-value-only')).trim()).toBe('gone after the restore');
    // Another node's directory, while the cluster's endpoint still answers: the cluster is up, refused too.
    const elsewhere = tempDir('other-node');
    const up = await restore({ overwrite: true }, elsewhere, '2s');
    expect(up.code).not.toBe(0);
    expect(up.stderr).toContain(`etcd is still running on ${DATA_DIR} (http://${HOST.etcdPlain}:${clientPort} answers)`);
    expect(fs.readdirSync(elsewhere)).toEqual([]);
  }, 120000);

  it('with etcd stopped: refuses to replace the member without --yes, and a copy whose manifest disagrees', async () => {
    await source.stop();
    const before = allFiles(node);
    const pod = await restore({ overwrite: false }, node);
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toContain(`${DATA_DIR} holds an etcd member`);
    expect(pod.stderr).toContain('set RESTORE_OVERWRITE=yes');
    expect(allFiles(node)).toEqual(before);

    const manifest = path.join(nfs, `${copy}.manifest.json`);
    fs.writeFileSync(manifest, JSON.stringify({ format: 1, service: 'etcd-plain', engine: 'etcd', kind: 'snapshot', copy, bytes: fs.statSync(path.join(nfs, copy)).size, etcd: { keys: 1, revision: atBackup.revision + 1 } }));
    try {
      const wrong = await restore({ overwrite: true }, node);
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toContain(`${copy} holds revision ${atBackup.revision}, its manifest records ${atBackup.revision + 1}`);
    } finally {
      fs.rmSync(manifest);
    }
    expect(allFiles(node)).toEqual(before);
  }, 120000);

  it('with --yes: the member comes back in place as itself, every key and revision as at backup time; the old directory is kept', async () => {
    const started = Math.floor(Date.now() / 1000);
    const pod = await restore({ overwrite: true }, node);
    expect({ code: pod.code, errors: pod.stderr.split('\n').filter((l) => /ERROR/.test(l)) }).toEqual({ code: 0, errors: [] });
    expect(pod.stderr).toContain(`restored ${copy} into ${DATA_DIR}: member ${MEMBER} advertising http://127.0.0.1:${peerPort}`);
    const entries = fs.readdirSync(node).filter((n) => n.startsWith('etcd'));
    expect(entries).toEqual(expect.arrayContaining(['etcd', expect.stringMatching(/^etcd\.before-restore-\d{8}T\d{6}Z$/)]));
    expect(entries).toHaveLength(2);
    // The old member is intact beside it.
    expect(fs.existsSync(path.join(node, entries.find((e) => e !== 'etcd')!, 'member', 'snap', 'db'))).toBe(true);
    expect(pod.tmpLeftovers).toEqual([]);
    recordTiming(`etcd ${version} restore Job (copy checked, etcdctl snapshot restore with the member flags, swap in place)`, {
      dumpSeconds: backupSeconds,
      restoreSeconds: pod.durationMs / 1000,
      bytes: fs.statSync(path.join(nfs, copy)).size,
      data: `${atBackup.keys.length} keys, revision ${atBackup.revision}`,
    });

    const { got, members } = await startRestored(node);
    expect(got.keys).toEqual(atBackup.keys);
    expect(got.revision).toBe(atBackup.revision);
    expect(got.history).toEqual(atBackup.history);
    expect(members.map((m) => [m.name, m.peerURLs])).toEqual([[MEMBER, [`http://127.0.0.1:${peerPort}`]]]);
    const g = await groupValues(pgw, 'etcd-plain', 'restore-snapshot');
    expect(g.backup_restore_last_run_success).toBe(1);
    expect(g.backup_restore_last_success_timestamp_seconds).toBeGreaterThanOrEqual(started);
    expect(g.backup_restore_revision).toBe(atBackup.revision);
  }, 120000);

  it('on a fresh node (no data directory): restores without asking', async () => {
    const fresh = tempDir('fresh-node');
    const pod = await restore({ overwrite: false }, fresh);
    expect({ code: pod.code, errors: pod.stderr.split('\n').filter((l) => /ERROR/.test(l)) }).toEqual({ code: 0, errors: [] });
    expect(fs.readdirSync(fresh)).toEqual(['etcd']);
    const { got, members } = await startRestored(fresh);
    expect(got.keys).toEqual(atBackup.keys);
    expect(got.revision).toBe(atBackup.revision);
    expect(members[0].peerURLs).toEqual([`http://127.0.0.1:${peerPort}`]);
  }, 120000);
});

test('the restore Job is offered only for a declared member', () => {
  const p = testPolicy({ pushgateway: 9 }) as any;
  const plain = planPolicy(p).services.find((s) => s.id === 'etcd-plain')!;
  expect(plain.restore).toBeUndefined();
  expect(plain.restoreSteps.join('\n')).toContain('declare `services.etcd-plain.member`');
  expect(HOST.etcdPlain).toBe('etcd.kube-system.svc.cluster.local');
});
