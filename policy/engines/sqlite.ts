import { z } from 'zod';
import { Duration } from '../values/duration';
import { dnsLabel, jobScheduleSchema, relativePathSchema, scheduleSchema, serviceCommon } from '../schema/fields';
import { SMALL_DRILL_RESOURCES, POD_PATHS, SMALL_RESOURCES, defineEngine, job, type EngineJob } from './engine';

const SCRIPT = 'sqlite-backup.sh';
const INTEGRITY_SCRIPT = 'sqlite-integrity-check.sh';
/** SQLite helpers, shipped only with SQLite services (and to the host, whose daily backup copies databases). */
export const SQLITE_LIBRARY = 'sqlite-lib.sh';

export const sqliteServiceSchema = z.strictObject({
  engine: z.literal('sqlite'),
  ...serviceCommon,
  schedule: scheduleSchema,
  data: z.strictObject({
    claimName: dnsLabel('PersistentVolumeClaim name', 253).meta({ description: 'The application\'s data PVC, mounted into the job.' }),
    database: relativePathSchema.meta({ description: 'The SQLite file, relative to the data volume.' }),
    extraPaths: z.array(relativePathSchema).default([]).meta({ description: 'Files and folders copied with each backup; a missing one fails the run.' }),
    optionalExtraPaths: z.array(relativePathSchema).default([]).meta({ description: 'Copied when present (e.g. a sends folder that appears on first use).' }),
  }),
  integrityCheck: jobScheduleSchema.optional().meta({ description: 'A separate job that checks the live database and pushes backup_integrity_ok.' }),
});

/** SQLite (Vaultwarden): VACUUM INTO a verified copy, plus the app's extra files. */
export const sqlite = defineEngine({
  engine: 'sqlite',
  title: 'SQLite',
  schema: sqliteServiceSchema,
  example: {
    engine: 'sqlite',
    namespace: 'vaultwarden',
    schedule: 'every 6h',
    data: { claimName: 'vaultwarden-data', database: 'db.sqlite3', extraPaths: ['attachments'] },
    integrityCheck: { schedule: '30 * * * *' },
    retention: { keepWithin: '14d', keepLast: 8 },
  },
  defaults: { resources: SMALL_RESOURCES, scratchSize: '2Gi' },
  typicalRestoreTime: Duration.minutes(5),
  contract: {
    variables: '`SQLITE_DATA_DIR` (the app\'s data volume, e.g. `/data`), `SQLITE_DB` (path relative to it, `db.sqlite3`), `SQLITE_EXTRA_PATHS` and `SQLITE_OPTIONAL_EXTRA_PATHS` (space-separated, relative to the data dir)',
    secretBacked: 'none',
  },
  drill: { script: 'sqlite-drill.sh', kinds: ['snapshot'], queries: true, scratchSize: '4Gi', resources: SMALL_DRILL_RESOURCES },
  scripts: (s) => [SQLITE_LIBRARY, SCRIPT, ...(s.integrityCheck ? [INTEGRITY_SCRIPT] : [])],
  jobs: (s): EngineJob[] => [job('snapshot', s.schedule, SCRIPT), ...(s.integrityCheck ? [job('integrity', s.integrityCheck.schedule, INTEGRITY_SCRIPT)] : [])],
  env: (s) => [
    { name: 'SQLITE_DATA_DIR', value: POD_PATHS.data },
    { name: 'SQLITE_DB', value: s.data.database },
    { name: 'SQLITE_EXTRA_PATHS', value: s.data.extraPaths.join(' ') },
    { name: 'SQLITE_OPTIONAL_EXTRA_PATHS', value: s.data.optionalExtraPaths.join(' ') },
  ],
  // Read-write on purpose: a reader of a WAL-mode database takes its locks through the -shm
  // file, so a read-only mount cannot see commits still in the WAL.
  volumes: (s) => ({
    volumes: [{ name: 'data', claimName: s.data.claimName }],
    mounts: [{ name: 'data', mountPath: POD_PATHS.data, readOnly: false }],
  }),
  target: (s) => `${s.namespace}/${s.data.claimName}/${s.data.database}`,
  dataClaims: (s) => [{ namespace: s.namespace, claim: s.data.claimName }],
  restoreSteps: (s, { nfsPath: dir, namespace, serviceId }) => [
    'Stop the writer first: a database restored under a running process is overwritten by its WAL.',
    '',
    '```sh',
    `kubectl -n ${namespace} scale deployment/${serviceId} --replicas=0`,
    `sqlite3 -bail "file:${dir}/db_<ts>.sqlite3?mode=ro" "PRAGMA integrity_check;"   # must print exactly: ok`,
    `# in the ${s.data.claimName} volume: remove ${s.data.database}-wal and ${s.data.database}-shm, then copy the backup over ${s.data.database}`,
    `zstd -dc ${dir}/files_<ts>.tar.zst | tar -x -C <the ${s.data.claimName} volume>   # ${[...s.data.extraPaths, ...s.data.optionalExtraPaths].join(', ') || 'no extra files'}`,
    `kubectl -n ${namespace} scale deployment/${serviceId} --replicas=1`,
    '```',
  ],
});
