import { z } from 'zod';
import { Duration } from '../values/duration';
import { hostSchema, portSchema, scheduleSchema, secretKeyRefSchema, serviceCommon } from '../schema/fields';
import { DRILL_RESOURCES, noVolumes, SMALL_RESOURCES, defineEngine, job, type EnvVar } from './engine';

const SCRIPT = 'redis-backup.sh';

export const redisServiceSchema = z.strictObject({
  engine: z.literal('redis'),
  ...serviceCommon,
  schedule: scheduleSchema,
  connection: z.strictObject({
    host: hostSchema,
    port: portSchema.default(6379),
    passwordSecret: secretKeyRefSchema.optional().meta({ description: 'Omit only for a Redis without AUTH.' }),
  }),
});

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
    retention: { keepWithin: '7d', keepLast: 4 },
  },
  defaults: { resources: SMALL_RESOURCES, scratchSize: '1Gi' },
  typicalRestoreTime: Duration.minutes(10),
  contract: { variables: '`REDIS_HOST`, `REDIS_PORT`', secretBacked: 'optional `REDISCLI_AUTH`' },
  drill: { script: 'redis-drill.sh', kinds: ['snapshot'], queries: false, scratchSize: '4Gi', resources: DRILL_RESOURCES },
  scripts: () => [SCRIPT],
  jobs: (s) => [job('snapshot', s.schedule, SCRIPT)],
  env: (s): EnvVar[] => [
    { name: 'REDIS_HOST', value: s.connection.host },
    { name: 'REDIS_PORT', value: String(s.connection.port) },
    ...(s.connection.passwordSecret ? [{ name: 'REDISCLI_AUTH', secret: s.connection.passwordSecret }] : []),
  ],
  volumes: noVolumes,
  target: (s) => `${s.connection.host}:${s.connection.port}`,
  dataClaims: () => [],
  restoreSteps: (_s, { nfsPath: dir, namespace }) => [
    `Run the file commands where the copies are: on the NFS server, or any machine that mounts the export (\`${dir}\`); the \`kubectl\` ones where you reach the cluster.`,
    '',
    '```sh',
    `redis-check-rdb ${dir}/dump_<ts>.rdb             # must end with "RDB looks OK"`,
    `kubectl -n ${namespace} scale statefulset/<redis> --replicas=0   # Redis rewrites dump.rdb on shutdown: stop it first`,
    '# copy the file into the Redis data volume as dump.rdb. The copies are 0600 root (the jobs',
    '# write under umask 077) and Redis refuses to load a file it cannot read: hand it to its user.',
    'cp <the copy> <data volume>/dump.rdb && chown <redis uid>:<redis gid> <data volume>/dump.rdb && chmod 0640 <data volume>/dump.rdb',
    '# appendonly yes: Redis would load the append-only files instead; move them aside so it loads the RDB.',
    'mv <data volume>/appendonlydir <data volume>/appendonlydir.before-restore   # only if it exists',
    `kubectl -n ${namespace} scale statefulset/<redis> --replicas=1`,
    '# appendonly yes: once the keys are back, rebuild the append-only files from them',
    `kubectl -n ${namespace} exec <redis pod> -- redis-cli BGREWRITEAOF`,
    '```',
  ],
});
