/**
 * The homelab's Vault CronJob, run from the synthesized stack through the harness, inside the image.
 * FAKE VAULT: Vault cannot be installed here, so its HTTP API is answered by test/fakes/vault-api.ts
 * (which says what it keeps of the real one); everything else is the real artifact: the script from
 * the ConfigMap, the image's curl, the environment with the token from its Secret, the volumes, the
 * user, the Pushgateway.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { freePort, Pushgateway, runOk, startPushgateway } from '../support/servers';
import { allFiles, seriesIn } from '../support/run-script';
import { readManifest } from '../harness/manifests';
import { runJob, TestCluster } from '../harness/cronjob-harness';
import { HOST, SECRETS, testCluster } from '../harness/test-policy';
import { groupValues } from '../harness/pushgateway';
import { recordTiming } from '../harness/timings';
import { SNAPSHOT_PATH, startVaultNode, VaultNode } from '../fakes/vault-api';

/** Where the standby listens: the Service name pointed at it, as during a leader change. */
const STANDBY_ADDRESS = '127.0.0.6';

let pgw: Pushgateway;
let cluster: TestCluster;
let nfs: string;
let active: VaultNode;
let standby: VaultNode;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  pgw = await startPushgateway();
  cleanups.push(() => pgw.stop());
  // Vault pods listen on one port; the active node's api_addr is its pod address.
  const port = await freePort();
  active = await startVaultNode({ token: SECRETS.vaultToken, port, stateBytes: 1 << 20 });
  standby = await startVaultNode({ token: SECRETS.vaultToken, answer: 'standby', host: STANDBY_ADDRESS, port, activeAddress: active.address });
  cleanups.push(() => active.stop(), () => standby.stop());
  nfs = fs.mkdtempSync('/tmp/bp-it-vault-');
  fs.chownSync(nfs, 10001, 10001);
  cleanups.push(() => fs.rmSync(nfs, { recursive: true, force: true }));
  cluster = testCluster({ pushgateway: Number(new URL(pgw.url).port), vault: port }, { 'vault-backup': nfs });
}, 60000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('vault-backup (fake Vault HTTP API)', () => {
  it('publishes exactly the snapshot the active node served, and it unpacks with every checksum matching', async () => {
    const before = Math.floor(Date.now() / 1000);
    const job = await runJob(cluster, 'vault-backup');
    const pod = job.attempts[0];
    expect(pod.stderr).toContain('finished successfully');
    expect(pod.code).toBe(0);
    expect(pod.stdout + pod.stderr).not.toContain(SECRETS.vaultToken);
    expect(active.requests.at(-1)).toEqual({ method: 'GET', url: SNAPSHOT_PATH, tokenOk: true, status: 200 });
    const [snap] = seriesIn(nfs, 'snapshot_', '.snap');
    expect(allFiles(nfs)).toEqual(['.lock-snapshot', snap, `${snap}.manifest.json`]);
    const file = path.join(nfs, snap);
    expect(createHash('sha256').update(fs.readFileSync(file)).digest('hex')).toBe(active.servedSha256);
    // Size and BLAKE2b only: no engine section for Vault.
    expect(Object.keys(readManifest(file, { service: 'vault', engine: 'vault', kind: 'snapshot' })).sort()).toEqual(
      ['blake2b', 'bytes', 'copy', 'createdAt', 'engine', 'format', 'kind', 'service'],
    );
    const g = await groupValues(pgw, 'vault', 'snapshot');
    expect(g.backup_last_run_success).toBe(1);
    expect(g.backup_last_success_timestamp_seconds).toBeGreaterThanOrEqual(before);
    expect(g.backup_last_size_bytes).toBe(fs.statSync(file).size);

    // What `vault operator raft snapshot restore` checks first, done independently of the job.
    const restoreStart = Date.now();
    const dir = fs.mkdtempSync('/tmp/bp-it-vault-unpack-');
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    await runOk('tar', ['-xzf', file, '-C', dir]);
    const check = await runOk('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir });
    const restoreSeconds = (Date.now() - restoreStart) / 1000;
    expect(check.trim().split('\n').sort()).toEqual(['meta.json: OK', 'state.bin: OK']);
    expect(fs.readdirSync(dir).sort()).toEqual(['SHA256SUMS', 'SHA256SUMS.sealed', 'meta.json', 'state.bin']);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'))).toMatchObject({ Index: 42 });

    recordTiming('vault (FAKE Vault HTTP API; restore = unpack and checksum, not a Vault restore)', {
      dumpSeconds: pod.durationMs / 1000,
      restoreSeconds,
      bytes: fs.statSync(file).size,
      data: 'a 1 MiB fake raft snapshot',
    });
  }, 60000);

  it('follows the standby\'s redirect to the active node when the Service name reaches a standby', async () => {
    const served = active.requests.length;
    // A directory of its own: copies are named by the second, and the first test's may be this one's.
    const target = fs.mkdtempSync('/tmp/bp-it-vault-standby-');
    fs.chownSync(target, 10001, 10001);
    cleanups.push(() => fs.rmSync(target, { recursive: true, force: true }));
    const job = await runJob(cluster, 'vault-backup', { hosts: { [HOST.vault]: STANDBY_ADDRESS }, claims: { 'vault-backup': target } });
    expect(job.attempts[0].stderr).toContain('finished successfully');
    expect(seriesIn(target, 'snapshot_', '.snap')).toHaveLength(1);
    expect(standby.requests.map((r) => r.status)).toEqual([307]);
    expect(active.requests.slice(served)).toEqual([{ method: 'GET', url: SNAPSHOT_PATH, tokenOk: true, status: 200 }]);
  }, 60000);

  it('fails when the Secret holds a token Vault refuses, without printing it', async () => {
    const wrong = 'hvs.not-the-backup-token';
    const job = await runJob({ ...cluster, secrets: { ...cluster.secrets, 'vault-backup-token': { token: wrong } } }, 'vault-backup', { attempts: 1 });
    expect(job.attempts[0].stderr).toContain('Vault refused the token (HTTP 403: permission denied)');
    expect(job.attempts[0].stderr).not.toContain(wrong);
    expect(job.attempts[0].code).not.toBe(0);
  }, 60000);
});
