import { lintPlan } from '../../policy/checks/lint';
import { planPolicy } from '../../policy/plan/plan';
import { homelabPolicy } from '../../stacks/homelab-policy';

// The PVC coverage and plan-review cases live in test/review/.

function homelabWith(edit: (p: any) => void): any {
  const copy = structuredClone(homelabPolicy);
  edit(copy);
  return copy;
}

function lint(input: unknown) {
  return lintPlan(planPolicy(input)).map((f) => `${f.path}: ${f.message}`);
}

describe('lint', () => {
  test('the bundled homelab is clean', () => {
    expect(lint(homelabPolicy)).toEqual([]);
  });

  test.each<[string, (p: any) => void, string, string]>([
    ['a schedule gap exceeds the declared RPO', (p) => (p.services.postgresql.rpo = '12h'), 'services.postgresql.rpo', 'more than the declared RPO of 12 hours'],
    ['retention keeps fewer than two runs', (p) => (p.services.redis.retention = { keepWithin: '7d', keepLast: 1 }), 'services.redis.retention', 'keeps fewer than two runs'],
    ['two jobs hit the same server in one window', (p) => (p.services.postgresql.perDatabase.schedule = 'daily at 00:05'), 'services.postgresql', 'both hit postgresql.dbaas.svc.cluster.local:5432 within 15 minutes'],
    ['a critical service has no offsite copy', (p) => { p.services.postgresql.critical = true; p.services.postgresql.nfsPath = '/srv/backups/postgresql'; }, 'services.postgresql', 'marked critical but has no offsite copy'],
    ['a service has no copy outside its own disk', (p) => (p.services.mysql.nfsPath = '/srv/backups/mysql'), 'services.mysql', 'no copy outside its own disk'],
    ['host snapshots keep fewer than two', (p) => (p.host.snapshots.retention = '1d'), 'host.snapshots.retention', 'fewer than two remain'],
  ])('fails when %s', (_name, edit, path, words) => {
    const findings = lint(homelabWith(edit));
    // The homelab is clean, so every finding comes from the edit; at least one must be the rule's.
    expect(findings).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${path.replace(/\./g, '\\.')}: .*${words.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))]));
  });
});

describe('lint and the SSH host key', () => {
  test('deploying without checking the host key is reported; a missing key is left to the deploy, which refuses', () => {
    const unchecked = lint(homelabWith((p) => (p.host.acceptUnknownHostKey = true)));
    expect(unchecked).toEqual([expect.stringMatching(/^host\.acceptUnknownHostKey: the deploy connects to 192\.168\.1\.127 without checking its SSH host key/)]);
    expect(lint(homelabWith((p) => (p.host.hostKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIkey')))).toEqual([]);
  });
});
