/**
 * Restore is code, for Vault: the restore Job that `backup-policy restore vault` renders, run by the
 * harness inside the backup-tools image (its curl, gzip, tar, b2sum, jq) from the copy the rendered
 * backup CronJob made.
 * FAKE VAULT: Vault cannot be installed here, so its HTTP API is answered by test/fakes/vault-api.ts,
 * which says what it keeps of the real one (save and restore endpoints, status codes, headers,
 * sealed and standby answers, the sealed sums of another cluster). Everything else is the real
 * artifact: the scripts from the ConfigMap, the environment with the token from its Secret, the
 * volumes (the copies read-only), the user, the Pushgateway.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, Pushgateway, runOk, startPushgateway } from '../support/servers';
import { seriesIn } from '../support/run-script';
import { jobManifestView, runJob, type TestCluster } from '../harness/cronjob-harness';
import { HOST, SECRETS, testCluster, testPolicy, type TestPorts } from '../harness/test-policy';
import { groupValues } from '../harness/pushgateway';
import { SNAPSHOT_FORCE_PATH, SNAPSHOT_PATH, startVaultNode, type VaultNode } from '../fakes/vault-api';
import { planPolicy } from '../../policy/plan/plan';
import { renderRestoreJob, type RestoreRequest } from '../../policy/render/restore-job';
import type { BackupPolicyInput } from '../../policy/parse/policy-schema';
import { synthStack } from '../support/synth';

/** Where the standby listens: the Service name pointed at it, as during a leader change. */
const STANDBY_ADDRESS = '127.0.0.6';

let pgw: Pushgateway;
let active: VaultNode;
let standby: VaultNode;
let ports: TestPorts;
let cluster: TestCluster;
let nfs: string;
/** The copy the backup CronJob wrote, and the state it holds. */
let copy: string;
let snapshotState: Buffer;
let snapshotIndex: number;
const cleanups: (() => Promise<void> | void)[] = [];

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

beforeAll(async () => {
  pgw = await startPushgateway();
  cleanups.push(() => pgw.stop());
  const port = await freePort();
  active = await startVaultNode({ token: SECRETS.vaultToken, port, stateBytes: 3 << 20 });
  standby = await startVaultNode({ token: SECRETS.vaultToken, answer: 'standby', host: STANDBY_ADDRESS, port, activeAddress: active.address });
  cleanups.push(() => active.stop(), () => standby.stop());
  nfs = fs.mkdtempSync('/tmp/bp-it-vault-restore-');
  fs.chownSync(nfs, 10001, 10001);
  cleanups.push(() => fs.rmSync(nfs, { recursive: true, force: true }));
  ports = { pushgateway: Number(new URL(pgw.url).port), vault: port };
  cluster = testCluster(ports, { 'vault-backup': nfs });
  const backup = await runJob(cluster, 'vault-backup');
  expect(backup.succeeded).toBe(true);
  [copy] = seriesIn(nfs, 'snapshot_', '.snap');
  snapshotState = active.state;
  snapshotIndex = active.index;
  // Vault goes on being written after the snapshot: the restore must bring back the snapshot's state.
  active.write();
  expect(sha(active.state)).not.toBe(sha(snapshotState));
}, 120000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Renders the restore Job from the (test) homelab policy and runs it. */
async function restore(request: Partial<RestoreRequest>, opts: { policy?: (p: BackupPolicyInput) => void; cluster?: TestCluster; hosts?: Record<string, string> } = {}) {
  const policy = testPolicy(ports);
  opts.policy?.(policy);
  const service = planPolicy(policy).services.find((s) => s.id === 'vault')!;
  const view = jobManifestView(renderRestoreJob(service, { mode: 'snapshot', copy: 'latest', overwrite: true, ...request }, new Date()));
  const base = opts.cluster ?? cluster;
  const job = await runJob(opts.policy ? { ...base, stack: synthStack(policy) } : base, view.name, { job: view, ...(opts.hosts ? { hosts: opts.hosts } : {}) });
  const pod = job.attempts[0];
  // Whatever happened, the token never appears in the Job's output.
  expect(pod.stdout + pod.stderr).not.toContain(SECRETS.vaultToken);
  expect(job.attempts).toHaveLength(1);
  return pod;
}

describe('vault restore Job (fake Vault HTTP API)', () => {
  it('refuses without --yes, saying that all of Vault\'s data would be replaced, and sends nothing', async () => {
    const before = active.requests.length;
    const pod = await restore({ overwrite: false });
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toContain(`restoring ${copy} replaces ALL of Vault's data`);
    expect(pod.stderr).toContain('set RESTORE_OVERWRITE=yes');
    expect(active.requests.slice(before)).toEqual([]);
    expect(active.restores).toBe(0);
    expect((await groupValues(pgw, 'vault', 'restore-snapshot')).backup_restore_last_run_success).toBe(0);
  }, 60000);

  it('refuses clearly while Vault is sealed, and installs nothing', async () => {
    active.answer = 'sealed';
    try {
      const pod = await restore({});
      expect(pod.code).not.toBe(0);
      expect(pod.stderr).toContain('Vault is sealed or has no active node (HTTP 503: Vault is sealed): unseal it, then restore; nothing was installed');
      expect(active.requests.at(-1)).toEqual({ method: 'POST', url: SNAPSHOT_PATH, tokenOk: true, status: 503 });
      expect(active.restores).toBe(0);
    } finally {
      active.answer = 'ok';
    }
  }, 60000);

  it('names the 403 when the Secret holds a token Vault refuses, without printing it', async () => {
    const wrong = 'hvs.not-the-restore-token';
    const pod = await restore({}, { cluster: { ...cluster, secrets: { ...cluster.secrets, 'vault-backup-token': { token: wrong } } } });
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toContain('Vault refused the token (HTTP 403: permission denied): it needs the update capability on sys/storage/raft/snapshot');
    expect(pod.stdout + pod.stderr).not.toContain(wrong);
    expect(active.requests.at(-1)).toEqual({ method: 'POST', url: SNAPSHOT_PATH, tokenOk: false, status: 403 });
    expect(active.restores).toBe(0);
  }, 60000);

  it('checks the copy before sending it: a manifest that disagrees, a damaged archive', async () => {
    const before = active.requests.length;
    const manifest = path.join(nfs, `${copy}.manifest.json`);
    const bytes = fs.statSync(path.join(nfs, copy)).size;
    fs.writeFileSync(manifest, JSON.stringify({ format: 1, service: 'vault', engine: 'vault', kind: 'snapshot', copy, bytes, blake2b: '00'.repeat(64) }));
    try {
      const pod = await restore({});
      expect(pod.code).not.toBe(0);
      expect(pod.stderr).toContain(`${copy} does not match the BLAKE2b digest of its manifest`);
    } finally {
      fs.rmSync(manifest);
    }
    // A copy whose state.bin no longer matches the archive's own SHA256SUMS (its bytes changed on disk).
    const damaged = 'snapshot_20260101T000000Z.snap';
    const dir = fs.mkdtempSync('/tmp/bp-it-vault-damage-');
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    await runOk('tar', ['-xzf', path.join(nfs, copy), '-C', dir]);
    const state = fs.readFileSync(path.join(dir, 'state.bin'));
    state[1000] ^= 0xff;
    fs.writeFileSync(path.join(dir, 'state.bin'), state);
    await runOk('tar', ['-czf', path.join(nfs, damaged), '-C', dir, 'meta.json', 'state.bin', 'SHA256SUMS', 'SHA256SUMS.sealed']);
    fs.chownSync(path.join(nfs, damaged), 10001, 10001);
    try {
      const pod = await restore({ copy: damaged });
      expect(pod.code).not.toBe(0);
      expect(pod.stderr).toContain('checksum mismatch for state.bin in the snapshot');
    } finally {
      fs.rmSync(path.join(nfs, damaged));
    }
    expect(active.requests.slice(before)).toEqual([]);
  }, 60000);

  it('installs the snapshot through a standby\'s redirect: Vault\'s state is the snapshot\'s again', async () => {
    const served = { standby: standby.requests.length, active: active.requests.length };
    // The copy's manifest as the backup job writes it: checked and found right.
    const file = path.join(nfs, copy);
    const b2 = (await runOk('b2sum', [file])).split(' ')[0];
    const manifest = `${file}.manifest.json`;
    fs.writeFileSync(manifest, JSON.stringify({ format: 1, service: 'vault', engine: 'vault', kind: 'snapshot', copy, createdAt: '', bytes: fs.statSync(file).size, blake2b: b2 }));
    const started = Math.floor(Date.now() / 1000);
    let pod;
    try {
      pod = await restore({}, { hosts: { [HOST.vault]: STANDBY_ADDRESS } });
    } finally {
      fs.rmSync(manifest);
    }
    expect({ code: pod.code, errors: pod.stderr.split('\n').filter((l) => /ERROR/.test(l)) }).toEqual({ code: 0, errors: [] });
    expect(pod.stderr).toContain(`${copy} matches its manifest`);
    expect(pod.stderr).toContain(`Vault installed ${copy}`);
    expect(standby.requests.slice(served.standby)).toEqual([{ method: 'POST', url: SNAPSHOT_PATH, tokenOk: true, status: 307 }]);
    expect(active.requests.slice(served.active)).toEqual([{ method: 'POST', url: SNAPSHOT_PATH, tokenOk: true, status: 204 }]);
    expect(sha(active.state)).toBe(sha(snapshotState));
    expect(active.index).toBe(snapshotIndex);
    expect(active.restores).toBe(1);
    const g = await groupValues(pgw, 'vault', 'restore-snapshot');
    expect(g.backup_restore_last_run_success).toBe(1);
    expect(g.backup_restore_last_success_timestamp_seconds).toBeGreaterThanOrEqual(started);
    expect(g.backup_restore_duration_seconds).toBeGreaterThan(0);
  }, 60000);

  it('a snapshot of another cluster: refused with the reason, installed with restoreForce through snapshot-force', async () => {
    const other = await startVaultNode({ token: SECRETS.vaultToken, clusterKey: 'another-cluster-unseal-keys', stateBytes: 4096 });
    cleanups.push(() => other.stop());
    const refused = await restore({ target: other.address });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`Vault refuses ${copy}: its unseal keys are not this cluster's`);
    expect(refused.stderr).toContain('restoreForce: true');
    expect(other.requests.at(-1)).toEqual({ method: 'POST', url: SNAPSHOT_PATH, tokenOk: true, status: 400 });
    expect(other.restores).toBe(0);

    const forced = await restore({ target: other.address }, { policy: (p) => void ((p.services.vault as { restoreForce?: boolean }).restoreForce = true) });
    expect(forced.code).toBe(0);
    expect(other.requests.at(-1)).toEqual({ method: 'POST', url: SNAPSHOT_FORCE_PATH, tokenOk: true, status: 204 });
    expect(sha(other.state)).toBe(sha(snapshotState));
  }, 60000);
});
