import { z } from 'zod';
import { Duration } from '../values/duration';
import { dnsLabel, jobScheduleSchema, relativePathSchema, scheduleSchema, serviceCommon, workloadSchema } from '../schema/fields';
import { SMALL_DRILL_RESOURCES, POD_PATHS, SMALL_RESOURCES, defineEngine, job, type EngineJob } from './engine';

const SCRIPT = 'sqlite-backup.sh';
const INTEGRITY_SCRIPT = 'sqlite-integrity-check.sh';
const RESTORE_SCRIPT = 'sqlite-restore.sh';
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
    workload: workloadSchema.optional().meta({ description: 'The Deployment or StatefulSet that writes the database ("deployment/vaultwarden"): a restore needs it stopped, and its refusals and the runbook name it. @default unnamed: "the application that writes it"' }),
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
  // The backup pod already mounts the data claim read-write; the restore adds only the names its
  // refusals print.
  restore: {
    script: RESTORE_SCRIPT,
    modes: ['snapshot'],
    pod: (s) => ({
      volumes: [],
      mounts: [],
      env: [
        { name: 'RESTORE_NAMESPACE', value: s.namespace },
        { name: 'RESTORE_WORKLOAD', value: s.data.workload ?? '' },
      ],
    }),
    retarget: { form: 'claim', volume: 'data' },
    ownSteps: true,
  },
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
  restoreSteps: (s, { nfsPath: dir, namespace, serviceId }) => {
    const writer = s.data.workload;
    const scale = (n: number) => (writer ? `kubectl -n ${namespace} scale ${writer} --replicas=${n}` : `kubectl -n ${namespace} scale <the deployment that writes ${s.data.database}> --replicas=${n}`);
    const extras = [...s.data.extraPaths, ...s.data.optionalExtraPaths];
    return [
      `A restore Job (\`backup-policy restore\`, the backup job's image and user, the backup volume \`${dir}\` read-only) copies \`db_<ts>.sqlite3\` into the claim \`${s.data.claimName}\` as \`${s.data.database}\` (a temporary name, checked with \`PRAGMA integrity_check\`, then renamed) and unpacks ${extras.length ? extras.map((p) => `\`${p}\``).join(', ') : 'the extra files'} from \`files_<ts>.tar.zst\` of the same run. It refuses while \`${s.data.database}-wal\` is not empty (a writer is running), and refuses to replace an existing database or extra path unless given \`--yes\`; what it replaces is renamed \`<name>.before-restore-<ts>\`, never deleted.`,
      '',
      '1. Stop the writer, where you reach the cluster: a database restored under a running process is overwritten by its WAL.',
      '',
      '   ```sh',
      `   ${scale(0)}`,
      '   ```',
      '',
      `2. Run the restore Job, from a checkout of the policy where \`kubectl\` reaches the cluster (the Job itself runs in the cluster). \`latest\` is the newest verified copy; name another with \`--copy\`, as \`ls ${dir}\` shows it; add \`--yes\` to replace the live database:`,
      '',
      '   ```sh',
      `   npx backup-policy restore ${serviceId} [--copy db_<YYYYmmddTHHMMSSZ>.sqlite3] [--yes] | kubectl apply -f -`,
      `   kubectl -n ${namespace} logs -f -l backup-policy/service=${serviceId},app.kubernetes.io/component=restore-job`,
      '   ```',
      '',
      `   The log lists every table's rows and every file restored (checked against the copy's manifest when there is one). It pushes \`backup_restore_last_run_success{service="${serviceId}"}\` and \`backup_restore_duration_seconds\`. \`--print-commands\` prints the same Job as shell commands; \`--target <claim>\` restores into another PVC.`,
      '',
      '3. Start the writer again, where you reach the cluster:',
      '',
      '   ```sh',
      `   ${scale(1)}`,
      '   ```',
    ];
  },
});
