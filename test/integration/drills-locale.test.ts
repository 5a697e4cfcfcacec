/**
 * A restore drill of a cluster whose databases use the locales real servers are set up with
 * (en_US.UTF-8, de_DE.UTF-8), not only C.UTF-8: pg_dumpall writes each database's LOCALE into its
 * CREATE DATABASE, and a throwaway server that lacks the locale refuses it, so every drill of such a
 * cluster would fail. The source is PostgreSQL 17 from the backup-drill root filesystem (the host's
 * test machine has no locales); its copies are made by the rendered backup CronJob and drilled by
 * the rendered drill CronJob.
 */
import * as fs from 'node:fs';
import { Postgres, Pushgateway, startPostgres, startPushgateway } from '../support/servers';
import { runJob } from '../harness/cronjob-harness';
import { SECRETS } from '../harness/test-policy';
import { groupValues } from '../harness/pushgateway';
import { drillCluster } from '../harness/drills';

let source: Postgres;
let pgw: Pushgateway;
let nfs: string;

beforeAll(async () => {
  [source, pgw] = await Promise.all([startPostgres({ password: SECRETS.postgres, version: '17' }), startPushgateway()]);
  nfs = fs.mkdtempSync('/tmp/bp-it-drill-locale-');
  fs.chownSync(nfs, 10001, 10001);
  await source.psql(`CREATE DATABASE us TEMPLATE template0 ENCODING 'UTF8' LOCALE 'en_US.UTF-8';
    CREATE DATABASE de TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'de_DE.UTF-8' LC_CTYPE 'de_DE.UTF-8';`);
  for (const db of ['us', 'de']) {
    await source.psql(`CREATE TABLE words (w text); INSERT INTO words SELECT 'wörter ' || g FROM generate_series(1, 500) g; CREATE INDEX ON words (w);`, { db });
  }
}, 120000);

afterAll(async () => {
  await Promise.all([source?.stop(), pgw?.stop()]);
  if (nfs) fs.rmSync(nfs, { recursive: true, force: true });
});

test('databases in en_US.UTF-8 and de_DE.UTF-8 restore in the drill, with their locales', async () => {
  const ports = { pushgateway: Number(new URL(pgw.url).port), postgres: source.port };
  const cluster = drillCluster(ports, { 'postgresql-backup': nfs });
  const backup = await runJob(cluster, 'postgresql-full-backup');
  expect({ succeeded: backup.succeeded }).toEqual({ succeeded: true });
  await source.stop();
  const drill = (await runJob(cluster, 'postgresql-full-drill', { attempts: 1 })).attempts[0];
  expect({ code: drill.code, errors: drill.stderr.split('\n').filter((l) => /ERROR/.test(l)) }).toEqual({ code: 0, errors: [] });
  expect(drill.stderr).toContain('us: 1 tables, 500 rows');
  expect(drill.stderr).toContain('de: 1 tables, 500 rows');
  expect((await groupValues(pgw, 'postgresql', 'drill-full')).backup_restore_drill_success).toBe(1);
}, 300000);
