/**
 * The homelab's Vault CronJob, run from the synthesized stack through the harness. FAKE VAULT: the
 * `vault` the pod runs is a test double (test/harness/vault-shim.ts explains why and what it
 * checks); everything else is the real artifact: the script from the ConfigMap, the environment
 * with the token from its Secret, the volumes, the user, the Pushgateway.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { Pushgateway, runOk, startPushgateway } from '../support/servers';
import { allFiles, seriesIn } from '../support/run-script';
import { cronJob, runJob, TestCluster } from '../harness/cronjob-harness';
import { SECRETS, testCluster } from '../harness/test-policy';
import { vaultShims } from '../harness/vault-shim';
import { groupValues } from '../harness/pushgateway';
import { recordTiming } from '../harness/timings';

let pgw: Pushgateway;
let cluster: TestCluster;
let nfs: string;
let address: string;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  pgw = await startPushgateway();
  cleanups.push(() => pgw.stop());
  nfs = fs.mkdtempSync('/tmp/bp-it-vault-');
  fs.chownSync(nfs, 10001, 10001);
  cleanups.push(() => fs.rmSync(nfs, { recursive: true, force: true }));
  cluster = testCluster({ pushgateway: Number(new URL(pgw.url).port) }, { 'vault-backup': nfs });
  address = cronJob(cluster.stack, 'vault-backup').env.find((e) => e.name === 'VAULT_ADDR')!.value!;
}, 60000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('vault-backup (fake vault CLI)', () => {
  it('publishes exactly the snapshot the CLI wrote, and it unpacks with every checksum matching', async () => {
    const before = Math.floor(Date.now() / 1000);
    const job = await runJob(cluster, 'vault-backup', { shims: vaultShims({ address, token: SECRETS.vaultToken, mode: 'ok' }) });
    const pod = job.attempts[0];
    expect(pod.stderr).toContain('finished successfully');
    expect(pod.code).toBe(0);
    expect(pod.stdout + pod.stderr).not.toContain(SECRETS.vaultToken);
    const [snap] = seriesIn(nfs, 'snapshot_', '.snap');
    expect(allFiles(nfs)).toEqual(['.lock-snapshot', snap]);
    const file = path.join(nfs, snap);
    const written = /fake vault: wrote sha256 ([0-9a-f]{64})/.exec(pod.stderr)?.[1];
    expect(createHash('sha256').update(fs.readFileSync(file)).digest('hex')).toBe(written);
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

    recordTiming('vault (FAKE vault CLI; restore = unpack and checksum, not a Vault restore)', {
      dumpSeconds: pod.durationMs / 1000,
      restoreSeconds,
      bytes: fs.statSync(file).size,
      data: 'a 64 KiB fake raft snapshot',
    });
  }, 60000);

  it('is refused by the fake when the token is not the Secret\'s (the double can fail)', async () => {
    const job = await runJob(cluster, 'vault-backup', { attempts: 1, shims: vaultShims({ address, token: 'some-other-token', mode: 'ok' }) });
    expect(job.attempts[0].stderr).toContain("fake vault: VAULT_TOKEN is not the Secret's token");
    expect(job.attempts[0].code).not.toBe(0);
  }, 60000);
});
