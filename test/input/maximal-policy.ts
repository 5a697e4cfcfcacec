import type { BackupPolicyInput } from '../../policy/parse/policy-schema';
import { policyJsonSchema } from '../../policy/parse/json-schema';
import { dottedPath } from '../../policy/values/errors';
import { homelabPolicy } from '../../stacks/homelab-policy';
import { samplePolicy } from '../support/policies';

/**
 * A valid policy that sets every optional field the schema has (every engine, a host section,
 * placement, images, alert settings), so that mutating each of its strings reaches every string
 * field of the schema. `schemaStringFields` proves that nothing is missed.
 */
export function maximalPolicy(): BackupPolicyInput {
  const policy = samplePolicy() as any;
  const common = {
    displayName: 'Thing',
    critical: true,
    rpo: '8d',
    rto: '2h',
    image: 'registry.example/backup-tools:1.2.3',
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '1Gi' } },
    timeout: '50m',
    scratchSize: '1Gi',
    placement: {
      nodeSelector: { 'kubernetes.io/hostname': 'node1' },
      tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Equal', value: 'yes', effect: 'NoSchedule' }],
    },
  };
  for (const [id, service] of Object.entries<any>(policy.services)) {
    Object.assign(service, common, { displayName: `Svc${id.replace(/[^a-z]/g, '')}`, nfsPath: `/srv/nfs/${id}-backup` });
  }
  for (const service of Object.values<any>(policy.services)) service.dataClaims = ['data-claim-0'];
  policy.coverage = { exclude: [{ namespace: 'monitoring', claim: 'prometheus-db', reason: 'regenerable metrics' }] };
  for (const id of ['pg', 'maria']) Object.assign(policy.services[id], { excludeDatabases: ['old db'], keepDroppedFor: '30d' });
  policy.services.vw.runAsRoot = { reason: 'the application writes its data as root' };
  policy.services.cache.data = { claimName: 'redis-data-0', workload: 'statefulset/redis', fsGroup: 1001, dbFilename: 'dump.rdb', appendonly: true, appendDirname: 'appendonlydir', appendFilename: 'appendonly.aof' };
  policy.services.vw.data.workload = 'deployment/vaultwarden';
  policy.services.etcd.member = { name: 'cp1', peerUrl: 'https://10.0.0.1:2380', initialCluster: { cp1: 'https://10.0.0.1:2380', cp2: 'https://10.0.0.2:2380' }, dataDir: '/var/lib/etcd', waitForStop: '10m' };
  policy.services.vault.restoreForce = true;
  policy.services.vault.restoreTokenSecret = { name: 'vault-restore', key: 'token' };
  policy.drills = { schedule: 'weekly on wednesday at 04:30', image: 'registry.example/backup-drill:1.2.3' };
  for (const id of ['pg', 'maria']) {
    policy.services[id].drill = {
      schedule: 'weekly on thursday at 04:30',
      queries: [{ database: 'app', sql: 'select count(*) from users', min: 1, max: 1000000, equals: 3 }],
      scratchSize: '20Gi',
      resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '2', memory: '4Gi' } },
      timeout: '3h',
    };
  }
  policy.services.pg.connection.user = 'backup';
  policy.services.pg.databases = ['app'];
  policy.services.maria.connection.user = 'backup';
  policy.services.maria.databases = ['app'];
  policy.alerts = { deploy: 'prometheus-rule', namespace: 'monitoring', ruleLabels: { release: 'kps' }, runbookBaseUrl: 'https://runbooks.example/backup', channels: { warning: 'warn', critical: 'page' } };
  policy.images = { postgres: 'registry.example/pg-tools:15.1' };
  policy.nfs.pathTemplate = '/srv/nfs/{service}-backup';
  policy.nfs.mountOptions = ['hard', 'nfsvers=4.1'];
  policy.nfs.capacity = '50Gi';
  const host = structuredClone(homelabPolicy.host) as any;
  Object.assign(host, { hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBackupPolicyTestKeyOnly', timeZone: 'Europe/London', kubeconfig: '/root/.kube/config', installDir: '/usr/local/lib/backup-policy', randomizedDelay: '5m' });
  host.snapshots.timeout = '1h';
  host.fileBackup.timeout = '2h';
  host.fileBackup.sqlite = { retention: { keepWithin: '30d', keepLast: 4 } };
  Object.assign(host.fileBackup.pfsense, { user: 'backup', knownHostsFile: '/root/.ssh/known_hosts', configPath: '/cf/conf/config.xml', archivePaths: ['/cf'] });
  host.offsite.timeout = '3h';
  host.offsite.nas.knownHostsFile = '/root/.ssh/known_hosts';
  policy.host = host;
  return policy;
}

/** Every string field of the editor JSON Schema, as `a.*.b[]` patterns (`<key>`: a record's keys). */
export function schemaStringFields(): Set<string> {
  const root = policyJsonSchema() as any;
  const fields = new Set<string>();
  const deref = (s: any) => {
    while (s?.$ref) s = root.$defs[s.$ref.replace('#/$defs/', '')];
    return s;
  };
  const walk = (raw: any, path: string) => {
    const s = deref(raw);
    if (!s) return;
    for (const k of ['anyOf', 'oneOf', 'allOf']) for (const o of s[k] ?? []) walk(o, path);
    if (s.if) walk(s.if, path);
    if (s.then) walk(s.then, path);
    const isString = s.type === 'string' || (Array.isArray(s.type) && s.type.includes('string'));
    // Enums and constants: no free text, nothing to inject.
    if (isString && !s.enum && s.const === undefined) fields.add(path);
    for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, path ? `${path}.${k}` : k);
    if (s.additionalProperties && typeof s.additionalProperties === 'object') {
      if (!deref(s.propertyNames)?.enum) fields.add(`${path}.<key>`);
      walk(s.additionalProperties, `${path}.*`);
    }
    if (s.items) walk(s.items, `${path}[]`);
  };
  walk(root, '');
  return fields;
}

export interface Mutation {
  /** The schema field pattern this mutation exercises. */
  field: string;
  /** The dotted path an error about it must name. */
  path: string;
  apply(policy: any): void;
}

/** One mutation per string value and per record key of a policy: `edit` turns the old text into the new. */
export function stringMutations(policy: unknown, edit: (text: string) => string): Mutation[] {
  const mutations: Mutation[] = [];
  const visit = (value: any, segments: (string | number)[], pattern: string) => {
    if (typeof value === 'string') {
      mutations.push({ field: pattern, path: dotted(segments), apply: (p) => setAt(p, segments, edit(value)) });
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, [...segments, i], `${pattern}[]`));
    } else if (value && typeof value === 'object') {
      const record = RECORDS.has(pattern);
      for (const [k, v] of Object.entries(value)) {
        if (record) {
          mutations.push({ field: `${pattern}.<key>`, path: dotted([...segments, edit(k)]), apply: (p) => renameKey(p, segments, k, edit(k)) });
        }
        visit(v, [...segments, k], record ? `${pattern}.*` : pattern ? `${pattern}.${k}` : k);
      }
    }
  };
  visit(policy, [], '');
  return mutations;
}

const RECORDS = new Set(['services', 'alerts.ruleLabels', 'images', 'services.*.placement.nodeSelector', 'services.*.member.initialCluster']);

function dotted(segments: (string | number)[]): string {
  return dottedPath(segments);
}

function setAt(policy: any, segments: (string | number)[], value: unknown) {
  let node = policy;
  for (const s of segments.slice(0, -1)) node = node[s];
  node[segments[segments.length - 1]] = value;
}

function renameKey(policy: any, segments: (string | number)[], from: string, to: string) {
  let node = policy;
  for (const s of segments) node = node[s];
  const entries = Object.entries(node);
  for (const key of Object.keys(node)) delete node[key];
  for (const [k, v] of entries) node[k === from ? to : k] = v;
}
