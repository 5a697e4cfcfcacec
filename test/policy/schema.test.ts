import { parsePolicy } from '../../policy/parse/parse';
import { planPolicy } from '../../policy/plan/plan';
import { PolicyValidationError } from '../../policy/values/errors';
import { policyWith, samplePolicy } from '../support/policies';

function issuesOf(input: unknown): string[] {
  try {
    parsePolicy(input);
  } catch (error) {
    if (error instanceof PolicyValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected the policy to be rejected');
}

describe('a valid policy', () => {
  test('parses with defaults filled in', () => {
    const parsed = parsePolicy(samplePolicy());
    expect(parsed.nfs.pathTemplate).toBe('/srv/nfs/{service}-backup');
    expect(parsed.nfs.mountOptions).toEqual(['hard', 'nfsvers=4.1']);
    const pg = parsed.services.pg;
    expect(pg.engine === 'postgres' && pg.connection.port).toBe(5432);
  });
});

/**
 * One row per schema rule: the policy edit, the dotted path reported, and words the message
 * must contain (what is wrong, what was received, what is allowed).
 */
describe('fails when', () => {
  test.each<[string, (p: any) => void, string, string[]]>([
    ['the engine is unknown', (p) => (p.services.pg.engine = 'mongodb'), 'services.pg.engine', ['unknown engine', '"mongodb"', 'postgres, mysql, etcd, vault, redis, sqlite']],
    ['the engine is missing', (p) => delete p.services.pg.engine, 'services.pg.engine', ['missing engine', 'received nothing']],
    ['a cron field is out of range', (p) => (p.services.pg.full.schedule = '61 * * * *'), 'services.pg.full.schedule', ['not a valid cron expression', '"61 * * * *"', 'allowed: a 5-field cron']],
    ['a cron has too few fields', (p) => (p.services.etcd.schedule = '0 1 * *'), 'services.etcd.schedule', ['expected 5 cron fields', '"0 1 * *"']],
    ['a shorthand is unknown', (p) => (p.services.vw.schedule = 'fortnightly'), 'services.vw.schedule', ['not a recognized shorthand', '"fortnightly"']],
    ['a duration is negative', (p) => (p.services.pg.retention.keepWithin = '-3d'), 'services.pg.retention.keepWithin', ['not a duration', '"-3d"', '"14d"']],
    ['a duration is malformed', (p) => (p.services.pg.retention.keepWithin = '14 days'), 'services.pg.retention.keepWithin', ['not a duration', '"14 days"']],
    ['a duration is zero', (p) => (p.services.pg.retention.keepWithin = '0d'), 'services.pg.retention.keepWithin', ['not a duration', '"0d"']],
    ['keepLast would delete every copy', (p) => (p.services.pg.retention.keepLast = 0), 'services.pg.retention.keepLast', ['at least the newest copy', 'received 0', '1 or more']],
    ['keepLast is fractional', (p) => (p.services.pg.retention.keepLast = 2.5), 'services.pg.retention.keepLast', ['whole number', '2.5']],
    ['a service id is not DNS-1123', (p) => (p.services.Bad_Name = p.services.pg), 'services.Bad_Name', ['not a DNS-1123 label', '"Bad_Name"']],
    ['a service id is too long for its CronJob names', (p) => (p.services['a-very-long-service-name-for-a-cronjob'] = p.services.pg), 'services.a-very-long-service-name-for-a-cronjob', ['too long', '38 characters', 'at most 36']],
    ['a namespace is not DNS-1123', (p) => (p.services.pg.namespace = 'DB-aaS'), 'services.pg.namespace', ['not a DNS-1123 label', '"DB-aaS"']],
    ['a path has shell metacharacters', (p) => (p.services.vw.data.database = 'db.sqlite3; rm -rf /'), 'services.vw.data.database', ['shell would interpret', '"db.sqlite3; rm -rf /"']],
    ['a path uses command substitution', (p) => (p.services.vw.data.extraPaths = ['$(id)']), 'services.vw.data.extraPaths[0]', ['shell would interpret', '"$(id)"']],
    ['a path climbs out of the volume', (p) => (p.services.vw.data.extraPaths = ['../etc/shadow']), 'services.vw.data.extraPaths[0]', ['".." segment', '"../etc/shadow"']],
    ['a data path is absolute', (p) => (p.services.vw.data.database = '/data/db.sqlite3'), 'services.vw.data.database', ['relative to the data volume']],
    ['an nfs path is relative', (p) => (p.services.pg.nfsPath = 'srv/nfs/pg'), 'services.pg.nfsPath', ['must be absolute']],
    ['the path template has no {service}', (p) => (p.nfs.pathTemplate = '/srv/nfs/backup'), 'nfs.pathTemplate', ['not a usable path template', 'containing {service}']],
    ['the path template has a space', (p) => (p.nfs.pathTemplate = '/srv/nfs/{service} backup'), 'nfs.pathTemplate', ['not a usable path template']],
    ['a credentials reference is missing', (p) => delete p.services.pg.connection.passwordSecret, 'services.pg.connection.passwordSecret', ['missing credentials reference', 'received nothing']],
    ['a vault token reference is missing', (p) => delete p.services.vault.tokenSecret, 'services.vault.tokenSecret', ['missing credentials reference']],
    ['https etcd has no client certificate', (p) => delete p.services.etcd.tlsSecret, 'services.etcd.tlsSecret', ['missing credentials reference for https endpoints']],
    ['a secret key has bad characters', (p) => (p.services.pg.connection.passwordSecret.key = 'pass word'), 'services.pg.connection.passwordSecret.key', ['not a Secret key', '"pass word"']],
    ['a postgres service declares no job', (p) => { delete p.services.pg.full; delete p.services.pg.perDatabase; }, 'services.pg', ['no backup job declared']],
    ['a field is unknown', (p) => (p.services.pg.password = 'hunter2'), 'services.pg.password', ['unknown field "password"']],
    ['the time zone is unknown', (p) => (p.timeZone = 'Mars/Olympus'), 'timeZone', ['unknown time zone', '"Mars/Olympus"', 'IANA']],
    ['the image is not pinned', (p) => (p.services.pg.image = 'postgres'), 'services.pg.image', ['not pinned', '"postgres"']],
    ['the image uses latest', (p) => (p.services.pg.image = 'postgres:latest'), 'services.pg.image', ['"latest" is not pinned']],
    ['a port is out of range', (p) => (p.services.pg.connection.port = 70000), 'services.pg.connection.port', ['out of range', '70000', '1-65535']],
    ['a host is not a host name', (p) => (p.services.pg.connection.host = 'pg;reboot'), 'services.pg.connection.host', ['not a host name', '"pg;reboot"']],
    ['the pushgateway URL carries credentials', (p) => (p.pushgateway.url = 'http://user:pw@pgw:9091'), 'pushgateway.url', ['not a plain http(s) URL']],
    ['a database name has shell characters', (p) => (p.services.pg.databases = ['app`id`']), 'services.pg.databases[0]', ['not a database name', '"app`id`"']],
    ['a quantity is malformed', (p) => (p.services.pg.resources = { requests: { cpu: 'lots', memory: '1Gi' }, limits: { memory: '1Gi' } }), 'services.pg.resources.requests.cpu', ['not a Kubernetes quantity', '"lots"']],
    ['the timeout outlasts the gap between runs', (p) => (p.services.vw.timeout = '2h'), 'services.vw.timeout', ['not shorter than the gap', 'received 2h', 'less than 1h']],
    ['two services share a backup directory', (p) => (p.services.maria.nfsPath = '/srv/nfs/pg-backup'), 'services.pg.nfsPath', ['already used by service "maria"']],
    ['a required section is missing', (p) => delete p.pushgateway, 'pushgateway', ['missing required field']],
    ['a schedule is not text', (p) => (p.services.vw.schedule = 6), 'services.vw.schedule', ['expected a schedule', 'received 6']],
  ])('%s', (_name, edit, path, words) => {
    const issues = issuesOf(policyWith(edit));
    const issue = issues.find((i) => i.startsWith(`${path}: `));
    expect({ issues, found: issue !== undefined }).toEqual({ issues, found: true });
    for (const word of words) expect(issue).toContain(word);
  });

  test('every issue is reported at once', () => {
    const issues = issuesOf(
      policyWith((p) => {
        p.timeZone = 'Nowhere/Else';
        p.services.pg.engine = 'mongodb';
        p.services.etcd.schedule = 'sometimes';
        p.services.vw.retention.keepLast = 0;
      }),
    );
    expect(issues.map((i) => i.split(':')[0]).sort()).toEqual([
      'services.etcd.schedule',
      'services.pg.engine',
      'services.vw.retention.keepLast',
      'timeZone',
    ]);
  });
});

describe('the plan', () => {
  test('does not depend on declaration order', () => {
    const forward = samplePolicy();
    const reversed = { ...forward, services: Object.fromEntries(Object.entries(forward.services).reverse()) };
    const names = (p: typeof forward) => planPolicy(p).services.flatMap((s) => s.jobs.map((j) => `${s.id}/${j.name}`));
    expect(names(reversed)).toEqual(names(forward));
    expect(names(forward)[0]).toBe('cache/cache-backup');
  });

  test('derives names, thresholds and deadlines from the declaration', () => {
    const plan = planPolicy(samplePolicy());
    const vw = plan.services.find((s) => s.id === 'vw')!;
    expect(vw.volume).toEqual(expect.objectContaining({ pvName: 'vw-backup', pvcName: 'vw-backup', path: '/srv/nfs/vw-backup', server: '192.168.1.127' }));
    expect(vw.scripts).toEqual({ configMapName: 'vw-backup-scripts', files: ['backup-lib.sh', 'sqlite-lib.sh', 'sqlite-backup.sh', 'sqlite-integrity-check.sh', 'sqlite-restore.sh'] });
    const [backup, integrity] = vw.jobs;
    expect([backup.name, backup.staleAfter.toHuman(), backup.timeout.toHuman(), backup.failedJobsHistoryLimit]).toEqual(['vw-backup', '9 hours', '1 hour', 5]);
    expect([integrity.name, integrity.staleAfter.toHuman(), integrity.timeout.toHuman(), integrity.failedJobsHistoryLimit, integrity.retention]).toEqual(['vw-integrity-check', '1 hour 30 minutes', '30 minutes', 25, undefined]);
    expect(integrity.startingDeadlineSeconds).toBeGreaterThanOrEqual(300);
  });
});
