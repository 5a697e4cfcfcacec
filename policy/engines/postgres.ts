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
  // The runbook shows the restore Job's commands; these lines say what each mode does to the server.
  restoreSteps: (s, { nfsPath: dir }) => [
    'What the restore does (host-scripts/CONTRACT.md, restore contract):',
    '',
    `- **full** (\`${dir}/dump_<ts>.sql.zst\`, pg_dumpall): the roles, then every database with its owner, encoding and collation. A server that holds databases (besides \`template0\`, \`template1\` and \`postgres\`) or objects in \`postgres\` is refused, with their names, until \`--yes\`; then they are dropped. Roles in the copy take the copy's attributes and passwords; roles only the server has stay.`,
    `- **per-database** (\`${dir}/per-db/<db>/dump_<ts>.dump.zst\`, pg_dump -Fc): first the roles the server lacks, from the newest full copy (existing roles stay exactly as they are), then the database with its dumped owner, encoding and collation (\`pg_restore --create\`). An existing database that holds relations or large objects is replaced only with \`--yes\`.`,
    '- Afterwards the tables and rows are counted against the copy and, when the backup wrote one, its `<copy>.manifest.json`; a difference fails the Job and names the database and table.',
    `- Into another server (a replacement, or a scratch one to look at a copy): \`--target <host>:<port>\` instead of ${s.connection.host}:${s.connection.port}. The Job logs in there as \`${s.connection.user}\` with the same Secret, so that superuser must exist with that password.`,
  ],
});
