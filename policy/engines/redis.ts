import { z } from 'zod';
import { Duration } from '../values/duration';
import { dnsLabel, hostSchema, portSchema, scheduleSchema, secretKeyRefSchema, serviceCommon, show, workloadSchema } from '../schema/fields';
import { DRILL_RESOURCES, POD_PATHS, noVolumes, SMALL_RESOURCES, defineEngine, job, type EnvVar, type RestorePod } from './engine';

const SCRIPT = 'redis-backup.sh';
const RESTORE_SCRIPT = 'redis-restore.sh';
/** The restore pod's volume holding Redis's `dir`; `--target` swaps its claim. */
const DATA_VOLUME = 'redis-data';

/** A file name Redis's config takes (`dbfilename`, `appendfilename`, `appenddirname`): one path component. */
const redisFileName = (what: string) =>
  z
    .string({ error: (iss) => `expected a file name, received ${show(iss.input)}` })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/, { error: (iss) => `${what} is one file name in Redis's dir, received ${show(iss.input)}, allowed: letters, digits, ".", "_" and "-", no "/"` });

const gidSchema = z
  .number({ error: (iss) => `expected a GID, received ${show(iss.input)}` })
  .int({ error: (iss) => `a GID is a whole number, received ${show(iss.input)}` })
  .min(1, { error: (iss) => `group 0 is root's, received ${show(iss.input)}, allowed: Redis's own group, from 1` })
  .max(2147483647, { error: (iss) => `GID out of range, received ${show(iss.input)}, allowed: at most 2147483647` });

export const redisDataSchema = z
  .strictObject({
    claimName: dnsLabel('PersistentVolumeClaim name', 253).meta({ description: 'The PVC holding Redis\'s `dir` (dump.rdb, appendonlydir), e.g. "redis-data-redis-master-0". The restore Job mounts it; coverage counts it as covered by the RDB copies.' }),
    workload: workloadSchema.meta({ description: 'The StatefulSet or Deployment running this Redis ("statefulset/redis-master"): it must be scaled to 0 before a restore, because Redis rewrites its dump on shutdown and would overwrite the restored file.' }),
    fsGroup: gidSchema.default(999).meta({ description: 'The group Redis reads its files with: its pod\'s fsGroup, else the GID it runs as (999 in the official image, 1001 in Bitnami\'s). The restore Job runs with it as fsGroup and hands the restored files to it (mode 0640): the copies themselves are 0600, readable only by the backup user. @default 999' }),
    dbFilename: redisFileName('dbFilename').default('dump.rdb').meta({ description: 'Redis\'s `dbfilename`. @default "dump.rdb"' }),
    appendonly: z.boolean().default(false).meta({ description: 'Redis runs with `appendonly yes` (Bitnami\'s default). Such a Redis ignores dump.rdb when its append-only files are missing and starts empty, so the restore also writes the copy as the base of a new append-only set (Redis 7 and later). @default false' }),
    appendDirname: redisFileName('appendDirname').default('appendonlydir').meta({ description: 'Redis\'s `appenddirname`. @default "appendonlydir"' }),
    appendFilename: redisFileName('appendFilename').default('appendonly.aof').meta({ description: 'Redis\'s `appendfilename`. @default "appendonly.aof"' }),
  })
  .meta({ description: 'Redis\'s data volume: declare it to get a restore Job (`backup-policy restore <service>`), which writes a copy into it. @default absent: no restore Job, the runbook\'s manual steps' });

export const redisServiceSchema = z.strictObject({
  engine: z.literal('redis'),
  ...serviceCommon,
  schedule: scheduleSchema,
  connection: z.strictObject({
    host: hostSchema,
    port: portSchema.default(6379),
    passwordSecret: secretKeyRefSchema.optional().meta({ description: 'Omit only for a Redis without AUTH.' }),
  }),
  data: redisDataSchema.optional(),
});

type RedisService = z.output<typeof redisServiceSchema>;

function restorePod(s: RedisService): RestorePod {
  const d = s.data!;
  return {
    volumes: [{ name: DATA_VOLUME, claimName: d.claimName }],
    mounts: [{ name: DATA_VOLUME, mountPath: POD_PATHS.data, readOnly: false }],
    fsGroup: d.fsGroup,
    env: [
      { name: 'REDIS_DATA_DIR', value: POD_PATHS.data },
      { name: 'REDIS_DB_FILENAME', value: d.dbFilename },
      { name: 'REDIS_APPENDONLY', value: d.appendonly ? 'yes' : 'no' },
      { name: 'REDIS_APPEND_DIRNAME', value: d.appendDirname },
      { name: 'REDIS_APPEND_FILENAME', value: d.appendFilename },
      { name: 'REDIS_FSGROUP', value: String(d.fsGroup) },
      { name: 'RESTORE_NAMESPACE', value: s.namespace },
      { name: 'RESTORE_WORKLOAD', value: d.workload },
    ],
  };
}

/** Redis: an RDB copy after a BGSAVE, checked with redis-check-rdb. */
export const redis = defineEngine({
  engine: 'redis',
  title: 'Redis',
  schema: redisServiceSchema,
  example: {
    engine: 'redis',
    namespace: 'redis',
    schedule: 'every 6h',
    connection: { host: 'redis.redis.svc.cluster.local' },
    data: { claimName: 'data-redis-0', workload: 'statefulset/redis' },
    retention: { keepWithin: '7d', keepLast: 4 },
  },
  defaults: { resources: SMALL_RESOURCES, scratchSize: '1Gi' },
  typicalRestoreTime: Duration.minutes(10),
  contract: { variables: '`REDIS_HOST`, `REDIS_PORT`', secretBacked: 'optional `REDISCLI_AUTH`' },
  drill: { script: 'redis-drill.sh', kinds: ['snapshot'], queries: false, scratchSize: '4Gi', resources: DRILL_RESOURCES },
  scripts: () => [SCRIPT],
  restore: {
    script: RESTORE_SCRIPT,
    modes: ['snapshot'],
    offered: (s) => s.data !== undefined,
    pod: restorePod,
    retarget: { form: 'claim', volume: DATA_VOLUME },
    ownSteps: true,
  },
  jobs: (s) => [job('snapshot', s.schedule, SCRIPT)],
  env: (s): EnvVar[] => [
    { name: 'REDIS_HOST', value: s.connection.host },
    { name: 'REDIS_PORT', value: String(s.connection.port) },
    ...(s.connection.passwordSecret ? [{ name: 'REDISCLI_AUTH', secret: s.connection.passwordSecret }] : []),
  ],
  volumes: noVolumes,
  target: (s) => `${s.connection.host}:${s.connection.port}`,
  dataClaims: (s) => (s.data ? [{ namespace: s.namespace, claim: s.data.claimName }] : []),
  restoreSteps: (s, { nfsPath: dir, namespace, serviceId }) => (s.data ? jobSteps(s, s.data, dir, namespace, serviceId) : manualSteps(dir, namespace)),
});

function jobSteps(s: RedisService, d: NonNullable<RedisService['data']>, dir: string, namespace: string, serviceId: string): string[] {
  const scale = (n: number) => `kubectl -n ${namespace} scale ${d.workload} --replicas=${n}`;
  return [
    `A restore Job (\`backup-policy restore\`, the backup job's image and Secrets, the backup volume \`${dir}\` read-only) writes a copy into the claim \`${d.claimName}\` as \`${d.dbFilename}\`${d.appendonly ? ` and as the base of a new \`${d.appendDirname}\`` : ''}, group ${d.fsGroup}, mode 0640. It refuses while Redis answers at \`${s.connection.host}:${s.connection.port}\`, and refuses to replace an existing dump or append-only files unless given \`--yes\` (the old ones are renamed, never deleted).`,
    '',
    '1. Stop Redis, where you reach the cluster (Redis rewrites its dump on shutdown, over whatever was restored under it). Go on once its pod is gone: the Job refuses while Redis still answers.',
    '',
    '   ```sh',
    `   ${scale(0)}`,
    '   ```',
    '',
    '2. Run the restore Job, from a checkout of the policy where `kubectl` reaches the cluster (the Job itself runs in the cluster). `latest` is the newest verified copy; name another with `--copy`, as `ls ' + dir + '` shows it; add `--yes` when the volume still holds a dump to replace:',
    '',
    '   ```sh',
    `   npx backup-policy restore ${serviceId} [--copy dump_<YYYYmmddTHHMMSSZ>.rdb] [--yes] | kubectl apply -f -`,
    `   kubectl -n ${namespace} logs -f -l backup-policy/service=${serviceId},app.kubernetes.io/component=restore-job`,
    '   ```',
    '',
    `   The log ends with the keys the copy holds (checked against its manifest when there is one). It pushes \`backup_restore_last_run_success{service="${serviceId}"}\` and \`backup_restore_duration_seconds\`. \`--print-commands\` prints the same Job as shell commands; \`--target <claim>\` writes into another PVC.`,
    '',
    '3. Start Redis, where you reach the cluster, and compare its key count with the Job\'s log:',
    '',
    '   ```sh',
    `   ${scale(1)}`,
    `   kubectl -n ${namespace} exec -it ${d.workload} -- redis-cli   # AUTH <password> if it has one, then INFO keyspace`,
    '   ```',
    '',
    d.appendonly
      ? `   This Redis runs with \`appendonly yes\`: it loads the restored data from the new append-only set. To fold it into a fresh base once it runs, \`redis-cli BGREWRITEAOF\` in the pod.`
      : `   If this Redis runs with \`appendonly yes\` after all, it ignores \`${d.dbFilename}\` while its append-only files are missing: set \`data.appendonly: true\` in the policy and restore again (the Job moves an existing \`${d.appendDirname}\` aside and writes a new one).`,
  ];
}

function manualSteps(dir: string, namespace: string): string[] {
  return [
    'No restore Job: the policy does not declare this service\'s `data` (Redis\'s data volume and workload); declare it to get one. By hand:',
    '',
    `Run the file commands where the copies are: on the NFS server, or any machine that mounts the export (\`${dir}\`); the \`kubectl\` ones where you reach the cluster.`,
    '',
    '```sh',
    `redis-check-rdb ${dir}/dump_<ts>.rdb             # must end with "RDB looks OK"`,
    `kubectl -n ${namespace} scale statefulset/<redis> --replicas=0   # Redis rewrites dump.rdb on shutdown: stop it first`,
    '# copy the file into the Redis data volume as dump.rdb. The copies are 0600 (the jobs write under',
    '# umask 077) and Redis refuses to load a file it cannot read: hand it to its user.',
    'cp <the copy> <data volume>/dump.rdb && chown <redis uid>:<redis gid> <data volume>/dump.rdb && chmod 0640 <data volume>/dump.rdb',
    '# appendonly yes: Redis ignores dump.rdb while append-only files exist, and starts EMPTY when they are',
    '# missing. Move the old ones aside and make the copy the base of a new set:',
    'mv <data volume>/appendonlydir <data volume>/appendonlydir.before-restore',
    'mkdir <data volume>/appendonlydir && cp <the copy> <data volume>/appendonlydir/appendonly.aof.1.base.rdb',
    "printf 'file appendonly.aof.1.base.rdb seq 1 type b\\n' > <data volume>/appendonlydir/appendonly.aof.manifest   # then chown -R as above",
    `kubectl -n ${namespace} scale statefulset/<redis> --replicas=1`,
    '```',
  ];
}
