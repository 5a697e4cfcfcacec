import { z } from 'zod';
import { Duration } from '../values/duration';
import { databaseNameSchema, hostSchema, jobScheduleSchema, portSchema, requireSomeJob, secretKeyRefSchema, serviceCommon } from '../schema/fields';
import { databaseSelectionEnv, databaseSelectionFields } from './database-selection';
import { DRILL_RESOURCES, DUMP_RESOURCES, noVolumes, defineEngine, job, type EngineJob } from './engine';

const SCRIPT = 'mysql-backup.sh';

export const mysqlServiceSchema = z
  .strictObject({
    engine: z.literal('mysql'),
    ...serviceCommon,
    connection: z.strictObject({
      host: hostSchema,
      port: portSchema.default(3306),
      user: z.string().regex(/^[A-Za-z0-9_]+$/).default('root'),
      passwordSecret: secretKeyRefSchema,
    }),
    databases: z.array(databaseNameSchema).min(1).optional(),
    ...databaseSelectionFields,
    full: jobScheduleSchema.optional().meta({ description: 'mysqldump --all-databases, consistent (--single-transaction) with routines, triggers and events.' }),
    perDatabase: jobScheduleSchema.optional(),
  })
  .superRefine(requireSomeJob);

/** MySQL and MariaDB: mysqldump of everything, and of each database. */
export const mysql = defineEngine({
  engine: 'mysql',
  title: 'MySQL',
  schema: mysqlServiceSchema,
  example: {
    engine: 'mysql',
    namespace: 'dbaas',
    connection: { host: 'mysql.dbaas.svc.cluster.local', passwordSecret: { name: 'mysql-backup', key: 'password' } },
    full: { schedule: 'daily at 00:30' },
    perDatabase: { schedule: 'daily at 01:00' },
    retention: { keepWithin: '14d', keepLast: 7 },
  },
  defaults: { resources: DUMP_RESOURCES, scratchSize: '1Gi' },
  typicalRestoreTime: Duration.minutes(15),
  contract: {
    variables: '`MYSQL_HOST`, `MYSQL_PORT`, `MYSQL_USER`; optional `BACKUP_DATABASES`, `BACKUP_EXCLUDE_DATABASES` (per-database only), `BACKUP_DROPPED_KEEP_SECONDS`',
    secretBacked: '`MYSQL_PASSWORD` (the script writes a 0600 defaults file in `TMPDIR`; never `-p` on a command line)',
  },
  drill: { script: 'mysql-drill.sh', kinds: ['full', 'per-database'], queries: true, scratchSize: '10Gi', resources: DRILL_RESOURCES },
  scripts: () => [SCRIPT],
  restore: { script: 'mysql-restore.sh', modes: ['full', 'per-database'] , retarget: { form: 'host:port', hostVariable: 'MYSQL_HOST', portVariable: 'MYSQL_PORT' } },
  jobs: (s): EngineJob[] => [
    ...(s.full ? [job('full', s.full.schedule, SCRIPT, ['full'])] : []),
    ...(s.perDatabase ? [job('per-database', s.perDatabase.schedule, SCRIPT, ['per-database'])] : []),
  ],
  env: (s) => [
    { name: 'MYSQL_HOST', value: s.connection.host },
    { name: 'MYSQL_PORT', value: String(s.connection.port) },
    { name: 'MYSQL_USER', value: s.connection.user },
    { name: 'MYSQL_PASSWORD', secret: s.connection.passwordSecret },
    ...databaseSelectionEnv(s),
  ],
  volumes: noVolumes,
  target: (s) => `${s.connection.host}:${s.connection.port}`,
  dataClaims: () => [],
  // The runbook shows the restore Job's commands; these lines say what each mode does to the server.
  restoreSteps: (s, { nfsPath: dir }) => [
    'What the restore does (host-scripts/CONTRACT.md, restore contract):',
    '',
    `- **full** (\`${dir}/dump_<ts>.sql.zst\`, every database and the \`mysql\` schema): **the copy's accounts replace every account of the server**: accounts the copy lacks are removed, those it has take the copy's password; then \`FLUSH PRIVILEGES\`, so they log in at once. A server that holds databases, or accounts the copy would remove or change, is refused, with their names, until \`--yes\`. If \`${s.connection.user}\` (the Job's own login) has another password in the copy, the Secret must hold the copy's password from then on, for the checks after the load and for the backups.`,
    `- **per-database** (\`${dir}/per-db/<db>/dump_<ts>.sql.zst\`): \`CREATE DATABASE\` with the character set and collation the newest full copy recorded for it, then the dump. An existing database that holds tables or views is replaced only with \`--yes\`.`,
    '- Afterwards the databases and tables are counted against the copy and, when the backup wrote one, the rows of every table against its `<copy>.manifest.json`; a difference fails the Job and names the database and table.',
    `- Into another server (a replacement, or a scratch one to look at a copy): \`--target <host>:<port>\` instead of ${s.connection.host}:${s.connection.port}. The Job logs in there as \`${s.connection.user}\` with the same Secret, so that account must exist with that password and reach the server over TCP.`,
  ],
});
