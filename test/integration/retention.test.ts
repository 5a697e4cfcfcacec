/**
 * Retention over time, with the real job: 60 simulated days of the homelab's daily PostgreSQL full
 * backup, of which the last 20 fail (10 with the server down, 10 with dumps that come out nearly
 * empty and are rejected), then a good run after the outage. The clock is the only thing faked: a
 * `date` on the image's PATH that answers with the simulated day (backup-lib.sh reads the time only
 * through `date`). After every day the backup directory must be exactly what the retention rule
 * allows, computed here independently: a copy goes only when it is older than keepWithin and not
 * among the keepLast newest; failed runs change nothing. Each copy's manifest comes and goes with it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Postgres, Pushgateway, run, startPostgres, startPushgateway } from '../support/servers';
import { backupTimestamp, seriesIn } from '../support/run-script';
import { runJob, TestCluster } from '../harness/cronjob-harness';
import { DEAD_ADDRESS, HOST, SECRETS, testCluster } from '../harness/test-policy';
import { groupValues } from '../harness/pushgateway';
import { homelabPolicy } from '../../stacks/homelab-policy';
import { Duration } from '../../policy/values/duration';

const DAY = 86400;
/** Day 1 of the simulation: 00:00 in the policy's Europe/London, UTC in winter. */
const DAY1 = Date.parse('2025-01-01T00:00:00Z') / 1000;
const NOTES = "INSERT INTO notes (body) SELECT md5(g::text) || repeat(md5((g * 3)::text), 3) FROM generate_series(1, 3000) g;";

let pg: Postgres;
let pgw: Pushgateway;
let cluster: TestCluster;
let nfs: string;
const cleanups: (() => Promise<void> | void)[] = [];

/** The test clock: "now" is the simulated moment; an explicit -d/--date is answered by the real date. */
function clockShim(epoch: number): Record<string, string> {
  return {
    date: `#!/bin/bash
# TEST CLOCK (test/integration/retention.test.ts): the simulated day, not the machine's time.
for a in "$@"; do case $a in -d | -d* | --date | --date=*) exec /usr/bin/date "$@" ;; esac; done
exec /usr/bin/date -d @${epoch} "$@"
`,
  };
}

beforeAll(async () => {
  [pg, pgw] = await Promise.all([startPostgres({ password: SECRETS.postgres }), startPushgateway()]);
  cleanups.push(() => pg.stop(), () => pgw.stop());
  await pg.psql(`CREATE TABLE notes (id serial PRIMARY KEY, body text); ${NOTES}`);
  nfs = fs.mkdtempSync('/tmp/bp-it-retention-');
  fs.chownSync(nfs, 10001, 10001);
  cleanups.push(() => fs.rmSync(nfs, { recursive: true, force: true }));
  cluster = testCluster({ pushgateway: Number(new URL(pgw.url).port), postgres: pg.port }, { 'postgresql-backup': nfs });
}, 60000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('60 days, the last 20 failed: nothing is deleted while runs fail, and the newest keepLast good copies survive the next good run', async () => {
  const retention = (homelabPolicy.services.postgresql as { retention: { keepWithin: string; keepLast: number } }).retention;
  const keepWithin = Duration.parse(retention.keepWithin).totalSeconds;
  const keepLast = retention.keepLast;
  const name = (epoch: number) => `dump_${backupTimestamp(new Date(epoch * 1000))}.sql.zst`;
  let expected: string[] = [];
  let lastGood = 0;

  const day = async (n: number, outcome: 'good' | 'server down' | 'nearly empty') => {
    const now = DAY1 + (n - 1) * DAY;
    const job = await runJob(cluster, 'postgresql-full-backup', {
      shims: clockShim(now),
      ...(outcome === 'server down' ? { hosts: { [HOST.postgres]: DEAD_ADDRESS } } : {}),
    });
    if (outcome === 'good') {
      expect({ day: n, ok: job.succeeded, log: job.succeeded ? '' : job.attempts.map((a) => a.stderr).join('\n') }).toEqual({ day: n, ok: true, log: '' });
      // The retention rule, independently: keep the newest keepLast, and whatever is not older
      // than keepWithin (the library compares name timestamps, strictly older goes).
      const all = [...expected, name(now)].sort();
      const cutoff = backupTimestamp(new Date((now - keepWithin) * 1000));
      expected = all.filter((f, i) => i >= all.length - keepLast || f.slice(5, 21) >= cutoff);
      lastGood = now;
    } else {
      expect({ day: n, failed: job.attempts.every((a) => a.code !== 0) }).toEqual({ day: n, failed: true });
    }
    expect({ day: n, series: seriesIn(nfs, 'dump_', '.sql.zst') }).toEqual({ day: n, series: expected });
    // A manifest goes with its copy: one beside every copy retention kept and every refused copy,
    // none left by a deleted copy, none for the runs that published nothing.
    const rejected = fs.readdirSync(nfs).filter((f) => f.endsWith('.sql.zst.rejected'));
    expect({ day: n, manifests: fs.readdirSync(nfs).filter((f) => f.endsWith('.manifest.json')).sort() }).toEqual({
      day: n,
      manifests: [...expected, ...rejected].map((f) => `${f}.manifest.json`).sort(),
    });
  };

  for (let n = 1; n <= 40; n++) await day(n, 'good');
  // keepWithin 14d, daily: 15 copies (the one exactly 14 days old is not older than the cutoff).
  expect(expected).toHaveLength(15);
  for (let n = 41; n <= 50; n++) await day(n, 'server down');
  await pg.psql('TRUNCATE notes');
  for (let n = 51; n <= 60; n++) await day(n, 'nearly empty');
  // Twenty failed days: nothing was deleted; the failed runs left no backup and kept the last
  // success visible to the staleness alert.
  expect(seriesIn(nfs, 'dump_', '.sql.zst')).toHaveLength(15);
  expect(fs.readdirSync(nfs).filter((f) => f.endsWith('.rejected'))).toHaveLength(10);
  const g = await groupValues(pgw, 'postgresql', 'full');
  expect(g.backup_last_run_success).toBe(0);
  expect(g.backup_last_success_timestamp_seconds).toBe(lastGood);

  // The outage ends: the first good run deletes everything older than keepWithin except the
  // newest keepLast, so the last good copies from before the outage are still there.
  await pg.psql(NOTES);
  await day(61, 'good');
  const left = seriesIn(nfs, 'dump_', '.sql.zst');
  expect(left).toEqual([...[34, 35, 36, 37, 38, 39, 40].map((n) => name(DAY1 + (n - 1) * DAY)), name(DAY1 + 60 * DAY)].slice(-keepLast));
  expect(left).toHaveLength(keepLast);
  for (const f of left) {
    const r = await run('bash', ['-c', 'set -o pipefail; zstd -dcq -- "$1" | tail -n 3', 'bash', path.join(nfs, f)]);
    expect(r.stdout).toContain('-- PostgreSQL database cluster dump complete');
  }
}, 240000);
