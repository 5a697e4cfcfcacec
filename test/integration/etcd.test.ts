/**
 * The etcd CronJobs, run from the synthesized stack through the harness (inside the backup-tools
 * image, etcdctl 3.5) against real etcd servers: the homelab's own job (kubeadm-shaped: HTTPS with a
 * client certificate from a Secret volume, host network, uid 10001) against etcd 3.4, and
 * `etcd-plain` (the same script and image over plain HTTP) against etcd 3.4 and 3.5, whose snapshot
 * is restored with that version's `etcdctl snapshot restore` and compared key by key, with revisions.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Etcd, Pushgateway, runOk, SERVER_VERSIONS, startEtcd, startPushgateway } from '../support/servers';
import { allFiles, seriesIn } from '../support/run-script';
import { readManifest } from '../harness/manifests';
import { cronJob, runJob, TestCluster } from '../harness/cronjob-harness';
import { testCluster } from '../harness/test-policy';
import { EtcdTls, etcdFingerprint, startEtcdFromSnapshot, startEtcdTls } from '../harness/etcd-servers';
import { groupValues, seedGroup } from '../harness/pushgateway';
import { recordTiming } from '../harness/timings';
import { seedEtcd } from '../harness/seeds';

let tls: EtcdTls;
/** etcd-plain's server, per version. */
const plain: Record<string, Etcd> = {};
let pgw: Pushgateway;
let cluster: TestCluster;
/** The stack synthesized with each version's etcd-plain server as the endpoint. */
const plainClusters: Record<string, TestCluster> = {};
const nfs: Record<string, string> = {};
const cleanups: (() => Promise<void> | void)[] = [];
const history: Record<string, { key: string; rev: number }[]> = {};

function newDir(label: string): string {
  const d = fs.mkdtempSync(`/tmp/bp-it-${label}-`);
  fs.chownSync(d, 10001, 10001);
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

beforeAll(async () => {
  const [old, newer] = SERVER_VERSIONS.etcd;
  [tls, plain[old], plain[newer], pgw] = await Promise.all([startEtcdTls(), startEtcd({ version: old }), startEtcd({ version: newer }), startPushgateway()]);
  cleanups.push(() => tls.stop(), () => plain[old].stop(), () => plain[newer].stop(), () => pgw.stop());
  for (const v of SERVER_VERSIONS.etcd) history[v] = await seedEtcd(plain[v].env, 2000);
  await seedEtcd(tls.env, 100);
  nfs.etcd = newDir('etcd');
  cluster = testCluster(
    { pushgateway: Number(new URL(pgw.url).port), etcdTls: tls.port },
    { 'etcd-backup': nfs.etcd },
    { 'etcd-backup-client': tls.clientSecret },
  );
  for (const v of SERVER_VERSIONS.etcd) {
    nfs[`etcd-plain-${v}`] = newDir(`etcd-plain-${v}`);
    plainClusters[v] = testCluster(
      { pushgateway: Number(new URL(pgw.url).port), etcdPlain: Number(new URL(plain[v].endpoint).port) },
      { 'etcd-plain-backup': nfs[`etcd-plain-${v}`] },
    );
  }
}, 120000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function restoreAndCompare(file: string, source: (...a: string[]) => Promise<string>, past: { key: string; rev: number }[], version?: string) {
  const raw = path.join(path.dirname(file), '..restore-check.db');
  await runOk('zstd', ['-dqf', file, '-o', raw]);
  try {
    const { server, restoreSeconds } = await startEtcdFromSnapshot(raw, version);
    cleanups.push(() => server.stop());
    const [want, got] = await Promise.all([etcdFingerprint(source, past), etcdFingerprint(server.ctl, past)]);
    return { want, got, restoreSeconds };
  } finally {
    fs.rmSync(raw, { force: true });
  }
}

describe.each(SERVER_VERSIONS.etcd)('etcd-plain-backup (the etcd job over plain HTTP) against etcd %s', (version) => {
  it('writes a snapshot that restores to the same keys, values, revisions and history', async () => {
    const before = Math.floor(Date.now() / 1000);
    const job = await runJob(plainClusters[version], 'etcd-plain-backup');
    const pod = job.attempts[0];
    expect(pod.stderr).toContain('snapshot restores cleanly');
    expect(pod.stderr).toContain('finished successfully');
    expect(pod.code).toBe(0);
    // The restore check's scratch copy went to the emptyDir and was removed.
    expect(pod.tmpLeftovers).toEqual([]);
    const [snap] = seriesIn(nfs[`etcd-plain-${version}`], 'snapshot_', '.db.zst');
    expect(allFiles(nfs[`etcd-plain-${version}`])).toEqual(['.lock-snapshot', snap, `${snap}.manifest.json`]);
    const file = path.join(nfs[`etcd-plain-${version}`], snap);
    const g = await groupValues(pgw, 'etcd-plain', 'snapshot');
    expect(g.backup_last_run_success).toBe(1);
    expect(g.backup_last_success_timestamp_seconds).toBeGreaterThanOrEqual(before);
    expect(g.backup_last_size_bytes).toBe(fs.statSync(file).size);

    const { want, got, restoreSeconds } = await restoreAndCompare(file, plain[version].ctl, history[version], version);
    expect(got.keys).toEqual(want.keys);
    expect(got.keys.length).toBe(2003);
    expect(got.revision).toBe(want.revision);
    expect(got.history).toEqual(want.history);
    // The manifest: the restored revision and the live keys at it (not the snapshot's totalKey,
    // which counts every stored revision: the history above has overwritten and deleted keys).
    expect(readManifest(file, { service: 'etcd-plain', engine: 'etcd', kind: 'snapshot' }).etcd).toEqual({ keys: got.keys.length, revision: got.revision });
    // The history holds what was overwritten and deleted, not only the current values.
    expect(got.history[0]).toBe(`/registry/configmaps/default/settings@${history[version][0].rev} ${Buffer.from('version 1 ✓ Grüße').toString('hex')}`);
    expect(got.history[3]).toBe(`/registry/secrets/default/doomed@${history[version][3].rev} ${Buffer.from('deleted later').toString('hex')}`);

    recordTiming(`etcd ${version} (etcdctl snapshot save, restore-checked, zstd)`, {
      dumpSeconds: pod.durationMs / 1000,
      restoreSeconds,
      bytes: fs.statSync(file).size,
      data: `2003 keys, revision ${want.revision}`,
    });
  }, 120000);
});

describe('etcd-backup (the homelab job: kubeadm etcd over HTTPS with a client certificate, host network)', () => {
  it('reads its client certificate from the Secret volume as uid 10001, and its snapshot restores', async () => {
    const view = cronJob(cluster.stack, 'etcd-backup');
    expect(view.runAsUser).toBe(10001);
    const job = await runJob(cluster, 'etcd-backup', { attempts: 1 });
    const pod = job.attempts[0];
    // A kubelet writes Secret files root-owned with default_mode (0400 here); without an fsGroup
    // the job's user cannot open tls.key.
    expect(pod.stderr).not.toMatch(/permission denied/i);
    expect(pod.stderr).toContain('snapshot restores cleanly');
    expect(pod.code).toBe(0);
    const [snap] = seriesIn(nfs.etcd, 'snapshot_', '.db.zst');
    expect(snap).toBeDefined();
    const { want, got } = await restoreAndCompare(path.join(nfs.etcd, snap), tls.ctl, []);
    expect(got.keys).toEqual(want.keys);
    expect(got.revision).toBe(want.revision);
  }, 120000);

  it('reports to the Pushgateway by its cluster name although the pod is on the host network', async () => {
    await seedGroup(pgw, 'etcd', 'snapshot', 'etcd');
    const started = Math.floor(Date.now() / 1000);
    const job = await runJob(cluster, 'etcd-backup', { attempts: 1 });
    const pod = job.attempts[0];
    // Whatever the backup's outcome, every run pushes its attempt. A host-network pod resolves
    // names with the node's resolver unless dns_policy is ClusterFirstWithHostNet.
    expect(pod.stderr).not.toContain('WARNING: metrics push');
    expect(pod.stderr).toContain('pushed metrics to');
    const g = await groupValues(pgw, 'etcd', 'snapshot');
    expect(g.backup_last_attempt_timestamp_seconds).toBeGreaterThanOrEqual(started);
    expect(g.backup_last_run_success).toBe(pod.code === 0 ? 1 : 0);
  }, 120000);
});
