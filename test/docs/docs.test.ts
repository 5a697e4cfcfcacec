import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedFiles as renderGenerated } from '../../policy/render/generated-files';
import { planPolicy } from '../../policy/plan/plan';

// With the restore benchmark's committed figures, as `npm run generate` renders them.
const generatedFiles = (policy: unknown) => renderGenerated(planPolicy(policy), readRestoreTimes());
import { readRestoreTimes } from '../../policy/io/restore-times';
import { packageRoot } from '../../policy/io/scripts';
import { homelabPolicy } from '../../stacks/homelab-policy';
import { synthStack } from '../support/synth';

const root = packageRoot();
const files = generatedFiles(homelabPolicy);

function tree(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tree(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('committed generated files', () => {
  test('every generated file is committed exactly as the generator writes it', () => {
    const stale = Object.entries(files).filter(([path, text]) => !existsSync(join(root, path)) || readFileSync(join(root, path), 'utf8') !== text).map(([path]) => path);
    expect(stale).toEqual([]);
  });

  test('docs/ holds nothing the generator does not write (no orphaned runbook)', () => {
    expect(tree('docs').sort()).toEqual(Object.keys(files).filter((p) => p.startsWith('docs/')).sort());
  });

  test('the README links the generated docs', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    for (const doc of ['docs/protection-matrix.md', 'docs/schedule.md', 'docs/alerts.md', 'docs/rpo-rto.md', 'docs/runbooks/']) expect(readme).toContain(doc);
  });
});

describe('the docs say what the plan says', () => {
  test('one runbook per service with Meaning, Impact, Diagnosis and Mitigation', () => {
    for (const service of Object.keys(homelabPolicy.services)) {
      const runbook = files[`docs/runbooks/${service}.md`];
      expect(runbook).toBeDefined();
      for (const heading of ['## Meaning', '## Impact', '## Diagnosis', '## Mitigation', '### Restore']) expect(runbook).toContain(heading);
      expect(runbook).toContain(`/srv/nfs/${service}-backup`);
    }
  });

  test('engine-specific restore commands with the service names and paths', () => {
    // Engines with a restore Job show exactly what that Job runs.
    expect(files['docs/runbooks/postgresql.md']).toContain("npx backup-policy restore postgresql --mode per-database --database '<db>' [--copy <file under /srv/nfs/postgresql-backup>] | kubectl apply -f -");
    expect(files['docs/runbooks/postgresql.md']).toContain('The Job runs `bash /opt/backup-policy/postgres-restore.sh <mode>`');
    expect(files['docs/runbooks/mysql.md']).toContain('npx backup-policy restore mysql --mode full [--copy <file under /srv/nfs/mysql-backup>] | kubectl apply -f -');
    expect(files['docs/runbooks/etcd.md']).toContain('npx backup-policy restore etcd --mode snapshot --yes | kubectl apply -f -');
    expect(files['docs/runbooks/etcd.md']).toContain('mv /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests.stopped/');
    expect(files['docs/runbooks/vault.md']).toContain('npx backup-policy restore vault --mode snapshot --yes | kubectl apply -f -');
    expect(files['docs/runbooks/vault.md']).toContain('http://vault-active.vault.svc.cluster.local:8200/v1/sys/storage/raft/snapshot');
    expect(files['docs/runbooks/redis.md']).toContain('npx backup-policy restore redis [--copy dump_<YYYYmmddTHHMMSSZ>.rdb] [--yes] | kubectl apply -f -');
    expect(files['docs/runbooks/vaultwarden.md']).toContain('PRAGMA integrity_check');
    // Every drilled service's runbook says where its drill's log is.
    expect(files['docs/runbooks/postgresql.md']).toContain('kubectl -n dbaas logs job/<the newest postgresql-per-db-drill job>');
    expect(files['docs/runbooks/etcd.md']).toContain('kubectl -n kube-system logs job/<the newest etcd-drill job>');
  });

  test('the alert table lists every rule of the rules file', () => {
    const rules = [...files['alerts/backup-alerts.yaml'].matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    const table = [...files['docs/alerts.md'].matchAll(/^\| (\w+) \|/gm)].map((m) => m[1]).filter((n) => n !== 'alert');
    expect(table).toEqual(rules);
  });

  test('the timeline shows CronJobs in the policy time zone', () => {
    expect(files['docs/schedule.md']).toContain('All times in Europe/London');
    expect(files['docs/schedule.md']).toContain('postgresql-per-db-backup :00:15, 15m');
    expect(files['docs/schedule.md']).toContain('```mermaid\ngantt');
  });

  test('human-readable schedules come from cronstrue', () => {
    expect(files['docs/runbooks/etcd.md']).toContain('At 02:30, only on Sunday');
  });
});

describe('decommissioning is one deletion', () => {
  test('removing a service leaves no trace in any generated output', () => {
    const policy = structuredClone(homelabPolicy);
    delete (policy.services as Record<string, unknown>).redis;
    // The JSON Schema describes every engine whatever the policy holds, so it is not a trace.
    const policyOutputs = (generated: Record<string, string>) => Object.entries(generated).filter(([path]) => path !== 'backup-policy.schema.json').map(([path, text]) => `${path}\n${text}`);
    // Nor is shared script code (drill-lib.sh clears every engine's connection variables,
    // REDISCLI_AUTH among them): script bodies are elided, the file names each ConfigMap ships stay.
    const withoutScriptBodies = (stack: any) => {
      const copy = structuredClone(stack);
      for (const map of Object.values<any>(copy.resource?.kubernetes_config_map_v1 ?? {})) {
        if (map.data) map.data = Object.fromEntries(Object.keys(map.data).map((name) => [name, `<${name}>`]));
      }
      return JSON.stringify(copy);
    };
    const outputs = [withoutScriptBodies(synthStack(policy)), ...policyOutputs(generatedFiles(policy))];
    const before = [JSON.stringify(synthStack(homelabPolicy)), ...policyOutputs(files)];
    // The check must be able to fail: the service is everywhere before the deletion.
    expect(before.filter((text) => /redis/i.test(text)).length).toBeGreaterThan(5);
    const traces = outputs.flatMap((text) => text.split('\n').filter((line) => /redis/i.test(line)).map((line) => line.slice(0, 160)));
    expect(traces).toEqual([]);
  });
});
