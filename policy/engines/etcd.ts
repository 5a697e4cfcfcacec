import { z } from 'zod';
import { Duration } from '../values/duration';
import { dnsLabel, scheduleSchema, serviceCommon, urlSchema } from '../schema/fields';
import { DRILL_RESOURCES, POD_PATHS, SMALL_RESOURCES, defineEngine, job } from './engine';

const SCRIPT = 'etcd-backup.sh';

export const etcdServiceSchema = z
  .strictObject({
    engine: z.literal('etcd'),
    ...serviceCommon,
    schedule: scheduleSchema,
    endpoints: z.array(urlSchema).min(1),
    tlsSecret: z
      .strictObject({ name: dnsLabel('Secret name', 253) })
      .optional()
      .meta({ description: 'A Secret with ca.crt, tls.crt and tls.key for an etcd client certificate. Required for https endpoints.' }),
  })
  .superRefine((value, ctx) => {
    if (value.endpoints.some((e) => e.startsWith('https:')) && !value.tlsSecret) {
      ctx.addIssue({ code: 'custom', path: ['tlsSecret'], input: undefined, message: 'missing credentials reference for https endpoints, received nothing, allowed: { name: <Secret with ca.crt, tls.crt, tls.key> }' });
    }
  });

/** etcd: a snapshot, verified by restoring it into scratch space. */
export const etcd = defineEngine({
  engine: 'etcd',
  title: 'etcd',
  schema: etcdServiceSchema,
  example: {
    engine: 'etcd',
    namespace: 'kube-system',
    schedule: 'weekly on sunday at 02:00',
    endpoints: ['https://127.0.0.1:2379'],
    tlsSecret: { name: 'etcd-backup-client' },
    retention: { keepWithin: '30d', keepLast: 4 },
  },
  // Verification restores the snapshot into the scratch space.
  defaults: { resources: SMALL_RESOURCES, scratchSize: '8Gi' },
  typicalRestoreTime: Duration.minutes(20),
  contract: {
    variables: '`ETCDCTL_API=3`, `ETCDCTL_ENDPOINTS`; optional `ETCDCTL_CACERT`, `ETCDCTL_CERT`, `ETCDCTL_KEY` (files mounted from a Secret)',
    secretBacked: 'the TLS files',
  },
  drill: { script: 'etcd-drill.sh', kinds: ['snapshot'], queries: false, scratchSize: '8Gi', resources: DRILL_RESOURCES },
  scripts: () => [SCRIPT],
  jobs: (s) => [job('snapshot', s.schedule, SCRIPT)],
  env: (s) => [
    { name: 'ETCDCTL_API', value: '3' },
    { name: 'ETCDCTL_ENDPOINTS', value: s.endpoints.join(',') },
    ...(s.tlsSecret
      ? [
          { name: 'ETCDCTL_CACERT', value: `${POD_PATHS.etcdTls}/ca.crt` },
          { name: 'ETCDCTL_CERT', value: `${POD_PATHS.etcdTls}/tls.crt` },
          { name: 'ETCDCTL_KEY', value: `${POD_PATHS.etcdTls}/tls.key` },
        ]
      : []),
  ],
  volumes: (s) =>
    s.tlsSecret
      ? {
          // Group-readable: the files belong to root and reach the job through its fsGroup.
          volumes: [{ name: 'etcd-tls', secret: s.tlsSecret.name, defaultMode: '0440' }],
          mounts: [{ name: 'etcd-tls', mountPath: POD_PATHS.etcdTls, readOnly: true }],
        }
      : { volumes: [], mounts: [] },
  target: (s) => s.endpoints.join(','),
  dataClaims: () => [],
  restoreSteps: (_s, { nfsPath: dir }) => [
    `Restoring etcd rebuilds the control plane from the snapshot. Run every command as root on the control-plane node, with the copy fetched from the NFS server (\`${dir}\`) first; etcd and the API server must be stopped, or etcd keeps writing the old data.`,
    '',
    '```sh',
    '# kubeadm: moving the static pod manifests away stops etcd and the API server',
    'mkdir -p /etc/kubernetes/manifests.stopped && mv /etc/kubernetes/manifests/{etcd,kube-apiserver}.yaml /etc/kubernetes/manifests.stopped/',
    `zstd -d -f -o /tmp/etcd.db ${dir}/snapshot_<ts>.db.zst`,
    '# the member must come back as itself: its name and peer URL as in /etc/kubernetes/manifests.stopped/etcd.yaml',
    'ETCDCTL_API=3 etcdctl snapshot restore /tmp/etcd.db --data-dir /var/lib/etcd.restored \\',
    '  --name <node name> --initial-cluster <node name>=https://<node ip>:2380 --initial-advertise-peer-urls https://<node ip>:2380',
    'mv /var/lib/etcd /var/lib/etcd.before-restore && mv /var/lib/etcd.restored /var/lib/etcd',
    'mv /etc/kubernetes/manifests.stopped/{etcd,kube-apiserver}.yaml /etc/kubernetes/manifests/',
    '```',
  ],
});
