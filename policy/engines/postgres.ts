import { z } from 'zod';
import { Duration } from '../values/duration';
import { databaseNameSchema, hostSchema, jobScheduleSchema, portSchema, requireSomeJob, secretKeyRefSchema, serviceCommon } from '../schema/fields';
import { databaseSelectionEnv, databaseSelectionFields } from './database-selection';
import { DRILL_RESOURCES, DUMP_RESOURCES, noVolumes, defineEngine, job, type EngineJob } from './engine';

const SCRIPT = 'postgres-backup.sh';

export const postgresServiceSchema = z
  .strictObject({
    engine: z.literal('postgres'),
    ...serviceCommon,
    connection: z.strictObject({
      host: hostSchema,
      port: portSchema.default(5432),
      user: z.string().regex(/^[A-Za-z0-9_]+$/).default('postgres'),
      passwordSecret: secretKeyRefSchema,
    }),
    databases: z.array(databaseNameSchema).min(1).optional().meta({ description: 'Per-database dumps cover exactly these. @default every database that allows connections, except templates' }),
    ...databaseSelectionFields,
    full: jobScheduleSchema.optional().meta({ description: 'pg_dumpall of the whole cluster, roles included.' }),
    perDatabase: jobScheduleSchema.optional().meta({ description: 'pg_dump -Fc of each database, for single-database restores.' }),
  })
  .superRefine(requireSomeJob);

export type PostgresService = z.output<typeof postgresServiceSchema>;

/** PostgreSQL: pg_dumpall (roles included) and pg_dump -Fc per database. */
export const postgres = defineEngine({
  engine: 'postgres',
  title: 'PostgreSQL',
  schema: postgresServiceSchema,
  example: {
    engine: 'postgres',
    namespace: 'dbaas',
    connection: { host: 'postgresql.dbaas.svc.cluster.local', passwordSecret: { name: 'pg-backup', key: 'password' } },
    full: { schedule: 'daily at 00:00' },
    perDatabase: { schedule: 'daily at 00:30' },
    retention: { keepWithin: '14d', keepLast: 7 },
  },
  defaults: { resources: DUMP_RESOURCES, scratchSize: '1Gi' },
  typicalRestoreTime: Duration.minutes(5),
  contract: {
    variables: '`PGHOST`, `PGPORT`, `PGUSER`; optional `BACKUP_DATABASES` (space-separated explicit list; default: every database that allows connections, except templates), `BACKUP_EXCLUDE_DATABASES`, `BACKUP_DROPPED_KEEP_SECONDS`',
    secretBacked: '`PGPASSWORD`',
  },
  drill: { script: 'postgres-drill.sh', kinds: ['full', 'per-database'], queries: true, scratchSize: '10Gi', resources: DRILL_RESOURCES },
  scripts: () => [SCRIPT],
  restore: { script: 'postgres-restore.sh', modes: ['full', 'per-database'] , retarget: { form: 'host:port', hostVariable: 'PGHOST', portVariable: 'PGPORT' } },
  jobs: (s): EngineJob[] => [
    ...(s.full ? [job('full', s.full.schedule, SCRIPT, ['full'])] : []),
    ...(s.perDatabase ? [job('per-database', s.perDatabase.schedule, SCRIPT, ['per-database'])] : []),
  ],
  env: (s) => [
    { name: 'PGHOST', value: s.connection.host },
    { name: 'PGPORT', value: String(s.connection.port) },
    { name: 'PGUSER', value: s.connection.user },
    { name: 'PGPASSWORD', secret: s.connection.passwordSecret },
    ...databaseSelectionEnv(s),
  ],
  volumes: noVolumes,
  target: (s) => `${s.connection.host}:${s.connection.port}`,
  dataClaims: () => [],
  restoreSteps: (s, { nfsPath: dir }) => [
    '**One database** (from the per-database dumps, custom format):',
    '',
    '```sh',
    `ls ${dir}/per-db/<db>/                        # dump_<YYYYmmddTHHMMSSZ>.dump.zst, newest last`,
    `zstd -d -o /tmp/restore.dump ${dir}/per-db/<db>/dump_<ts>.dump.zst`,
    `pg_restore --list /tmp/restore.dump >/dev/null   # the file is readable`,
    `PGPASSWORD=... pg_restore -h ${s.connection.host} -p ${s.connection.port} -U ${s.connection.user} -d <db> --clean --if-exists /tmp/restore.dump`,
    '```',
    '',
    '**The whole cluster** (roles included, from pg_dumpall):',
    '',
    '```sh',
    `zstd -dc ${dir}/dump_<ts>.sql.zst | PGPASSWORD=... psql -h ${s.connection.host} -p ${s.connection.port} -U ${s.connection.user} -d postgres -v ON_ERROR_STOP=0`,
    '```',
    '',
    'Into a freshly initialised cluster, the only expected error is `role "postgres" already exists`.',
  ],
});
