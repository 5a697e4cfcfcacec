import { z } from 'zod';
import { Duration } from '../values/duration';
import { hostSchema, portSchema, scheduleSchema, secretKeyRefSchema, serviceCommon } from '../schema/fields';
import { noVolumes, SMALL_RESOURCES, defineEngine, job, type EnvVar } from './engine';

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
    '```sh',
    `redis-check-rdb ${dir}/dump_<ts>.rdb             # must end with "RDB looks OK"`,
    `kubectl -n ${namespace} scale statefulset/<redis> --replicas=0`,
    '# copy the file into the Redis data volume as dump.rdb (appendonly no), then',
    `kubectl -n ${namespace} scale statefulset/<redis> --replicas=1`,
    '```',
  ],
});
