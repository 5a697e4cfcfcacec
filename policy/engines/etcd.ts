import { z } from 'zod';
import { Duration } from '../values/duration';
import { absolutePathSchema, dnsLabel, durationSchema, scheduleSchema, serviceCommon, show, urlSchema } from '../schema/fields';
import { DEFAULT_TIMEOUT, DRILL_RESOURCES, POD_PATHS, SMALL_RESOURCES, defineEngine, job } from './engine';

const SCRIPT = 'etcd-backup.sh';
const RESTORE_SCRIPT = 'etcd-restore.sh';
/** Where the restore Job sees the node's directory that holds the data directory. */
const NODE_MOUNT = '/node';
/** kubeadm's static pod manifests: moving etcd's and the API server's away stops both. */
const KUBEADM_MANIFESTS = '/etc/kubernetes/manifests';
const KUBEADM_STOPPED = '/etc/kubernetes/manifests.stopped';

const MEMBER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const memberNameSchema = z.string().regex(MEMBER_NAME, {
  error: (iss) => `not an etcd member name usable in --initial-cluster, received ${show(iss.input)}, allowed: letters, digits, ".", "_", "-" (at most 63; kubeadm names the member after the node)`,
});
const peerUrlSchema = urlSchema.refine((u) => /^https?:\/\/[^/]+$/.test(u), {
  error: (iss) => `a peer URL is scheme://host:port only, received ${show(iss.input)}, allowed: e.g. "https://192.168.1.20:2380"`,
});

const memberSchema = z
  .strictObject({
    name: memberNameSchema.meta({ description: 'The member\'s --name, as in /etc/kubernetes/manifests/etcd.yaml on its node (kubeadm: the node name).' }),
    peerUrl: peerUrlSchema.meta({ description: 'The member\'s --initial-advertise-peer-urls (kubeadm: https://<node IP>:2380).' }),
    initialCluster: z
      .record(memberNameSchema, peerUrlSchema)
      .optional()
      .meta({ description: 'Every member\'s peer URL by name (--initial-cluster). @default this member alone' }),
    dataDir: absolutePathSchema.prefault('/var/lib/etcd').meta({ description: 'The member\'s data directory on the node. @default "/var/lib/etcd" (kubeadm)' }),
    waitForStop: durationSchema
      .prefault('15m')
      .meta({ description: 'How long the restore Job waits for etcd to be stopped on the node before it gives up (stopping etcd stops the API server, so the Job starts first). @default "15m"' }),
  })
  .superRefine((m, ctx) => {
    if (m.dataDir.split('/').length < 3) {
      ctx.addIssue({ code: 'custom', path: ['dataDir'], input: m.dataDir, message: `the restore mounts the data directory's parent from the node, received ${show(m.dataDir)}, allowed: a directory at least two levels deep such as "/var/lib/etcd"` });
    }
    if (m.initialCluster && m.initialCluster[m.name] !== m.peerUrl) {
      ctx.addIssue({ code: 'custom', path: ['initialCluster'], input: m.initialCluster, message: `must map this member "${m.name}" to its peerUrl ${m.peerUrl}, received ${show(m.initialCluster[m.name] ?? null)}, allowed: { "${m.name}": "${m.peerUrl}", ...the other members }` });
    }
  });

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
    member: memberSchema
      .optional()
      .meta({ description: 'The member a restore brings back, on its own node (placement must put the jobs there). Declared: `backup-policy restore` offers a restore Job that runs as root on the node and replaces the data directory. @default none: the runbook\'s manual steps' }),
  })
  .superRefine((value, ctx) => {
    if (value.member) {
      const timeout = value.timeout ?? DEFAULT_TIMEOUT.min(value.schedule.shortestGap.times(0.5));
      if (value.member.waitForStop.totalSeconds >= timeout.totalSeconds) {
        ctx.addIssue({ code: 'custom', path: ['member', 'waitForStop'], input: value.member.waitForStop.toHuman(), message: `the restore Job ends after ${timeout.toHuman()} (the service's timeout), received a wait of ${value.member.waitForStop.toHuman()}, allowed: shorter than the timeout, leaving time for the restore` });
      }
    }
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
  restore: {
    script: RESTORE_SCRIPT,
    modes: ['snapshot'],
    // Only a declared member can be restored as itself; without one the runbook keeps the manual steps.
    offered: (s) => s.member !== undefined,
    ownSteps: true,
    pod: (s) => {
      const m = s.member!;
      const parent = m.dataDir.slice(0, m.dataDir.lastIndexOf('/'));
      const initialCluster = m.initialCluster ?? { [m.name]: m.peerUrl };
      return {
        // The parent, not the data directory itself: the restore renames the old directory aside
        // and the restored one into place, next to each other on the node's filesystem.
        volumes: [{ name: 'etcd-node-dir', hostPath: { path: parent, type: 'Directory' } }],
        mounts: [{ name: 'etcd-node-dir', mountPath: `${NODE_MOUNT}${parent}`, readOnly: false }],
        runAsUser: 0,
        rootReason: `etcd's data directory ${m.dataDir} belongs to root on the node (kubeadm runs etcd as root), and the restore replaces it`,
        // The copies belong to the backup jobs' user, mode 0600: root reads them with this one
        // capability (over NFS the export must not squash root, as for any root job).
        capabilities: ['DAC_READ_SEARCH'],
        env: [
          { name: 'ETCD_RESTORE_NAME', value: m.name },
          { name: 'ETCD_RESTORE_PEER_URL', value: m.peerUrl },
          { name: 'ETCD_RESTORE_INITIAL_CLUSTER', value: Object.keys(initialCluster).sort().map((n) => `${n}=${initialCluster[n]}`).join(',') },
          { name: 'ETCD_RESTORE_DATA_DIR', value: `${NODE_MOUNT}${m.dataDir}` },
          { name: 'ETCD_RESTORE_NODE_DATA_DIR', value: m.dataDir },
          { name: 'ETCD_RESTORE_WAIT_SECONDS', value: String(m.waitForStop.totalSeconds) },
        ],
      };
    },
  },
  restoreSteps: (s, { serviceId: id, namespace, nfsPath: dir }) => {
    const stop = `mkdir -p ${KUBEADM_STOPPED} && mv ${KUBEADM_MANIFESTS}/etcd.yaml ${KUBEADM_MANIFESTS}/kube-apiserver.yaml ${KUBEADM_STOPPED}/`;
    const start = `mv ${KUBEADM_STOPPED}/etcd.yaml ${KUBEADM_STOPPED}/kube-apiserver.yaml ${KUBEADM_MANIFESTS}/`;
    if (!s.member) {
      return [
        `No restore Job: declare \`services.${id}.member\` (the member's name, peer URL and data directory) and \`backup-policy restore ${id}\` renders one. Until then, by hand: run every command as root on the control-plane node, with the copy fetched from the NFS server (\`${dir}\`) first; etcd and the API server must be stopped, or etcd keeps writing the old data.`,
        '',
        '```sh',
        '# kubeadm: moving the static pod manifests away stops etcd and the API server',
        stop,
        `zstd -d -f -o /tmp/etcd.db ${dir}/snapshot_<ts>.db.zst`,
        `# the member must come back as itself: its name and peer URL as in ${KUBEADM_STOPPED}/etcd.yaml`,
        'ETCDCTL_API=3 etcdctl snapshot restore /tmp/etcd.db --data-dir /var/lib/etcd.restored \\',
        '  --name <node name> --initial-cluster <node name>=https://<node ip>:2380 --initial-advertise-peer-urls https://<node ip>:2380',
        'mv /var/lib/etcd /var/lib/etcd.before-restore && mv /var/lib/etcd.restored /var/lib/etcd',
        start,
        '```',
      ];
    }
    const m = s.member;
    const wait = m.waitForStop.toHuman();
    return [
      `The restore Job runs \`bash /opt/backup-policy/${RESTORE_SCRIPT} snapshot\` as root on the member's node (the jobs' placement), with \`${m.dataDir.slice(0, m.dataDir.lastIndexOf('/'))}\` of the node mounted, and brings back member \`${m.name}\` advertising \`${m.peerUrl}\` from a copy in \`${dir}\`. It starts while the API server is still up, then waits up to ${wait} for etcd to be stopped (stopping etcd stops the API server, after which no Job could start); it refuses while etcd runs on \`${m.dataDir}\`.`,
      '',
      `1. **On a workstation with kubectl** (the cluster still up): render and start the Job. \`--yes\` lets it replace \`${m.dataDir}\`; \`--copy snapshot_<ts>.db.zst\` picks a copy other than the newest.`,
      '',
      '   ```sh',
      `   npx backup-policy restore ${id} --mode snapshot --yes | kubectl apply -f -`,
      `   kubectl -n ${namespace} get pods -l backup-policy/service=${id},app.kubernetes.io/component=restore-job -o wide   # Running, on the member's node`,
      '   ```',
      '',
      `2. **On the member's node, as root**: stop etcd and the API server (kubeadm), then follow the Job's log there (the API server is down, so \`kubectl logs\` cannot).`,
      '',
      '   ```sh',
      `   ${stop}`,
      '   crictl logs -f "$(crictl ps -q --name restore --label io.kubernetes.pod.namespace=' + namespace + ')"',
      '   ```',
      '',
      `   The Job decompresses and checks the copy (size and BLAKE2b against its manifest, the revision), restores it into \`${m.dataDir}.restored-<ts>\` with the member's name, peer URL and cluster, renames \`${m.dataDir}\` to \`${m.dataDir}.before-restore-<ts>\` (kept, never deleted) and puts the restored directory in its place.`,
      '',
      `3. **On the member's node, as root**, once the log says \`restored ... into ${m.dataDir}\`: start etcd and the API server again.`,
      '',
      '   ```sh',
      `   ${start}`,
      '   ```',
      '',
      `4. **On the workstation**: the Job succeeded and the member is itself again.`,
      '',
      '   ```sh',
      `   kubectl -n ${namespace} get jobs -l backup-policy/service=${id},app.kubernetes.io/component=restore-job`,
      `   kubectl -n ${namespace} exec etcd-<node> -- etcdctl --cacert /etc/kubernetes/pki/etcd/ca.crt --cert /etc/kubernetes/pki/etcd/server.crt --key /etc/kubernetes/pki/etcd/server.key member list   # ${m.name}, ${m.peerUrl}`,
      '   ```',
      '',
      `A cluster of several members: every member is stopped and restored from the same copy before any starts; the policy declares one member, so the other members' restores are by hand (the same \`etcdctl snapshot restore\` with each one's \`--name\` and peer URL).`,
      '',
      `The Job pushes \`backup_restore_last_run_success{service="${id}"}\` and \`backup_restore_duration_seconds\` (the measured restore time, waiting included). Add \`--print-commands\` for the same procedure as shell commands.`,
    ];
  },
});
