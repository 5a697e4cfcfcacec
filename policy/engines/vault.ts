import { z } from 'zod';
import { Duration } from '../values/duration';
import { scheduleSchema, secretKeyRefSchema, serviceCommon, urlSchema } from '../schema/fields';
import { SMALL_DRILL_RESOURCES, noVolumes, SMALL_RESOURCES, defineEngine, job } from './engine';

const SCRIPT = 'vault-backup.sh';
const RESTORE_SCRIPT = 'vault-restore.sh';
/** Vault's HTTP API through curl, shared by the backup and the restore. */
const LIBRARY = 'vault-lib.sh';

export const vaultServiceSchema = z.strictObject({
  engine: z.literal('vault'),
  ...serviceCommon,
  schedule: scheduleSchema,
  address: urlSchema,
  tokenSecret: secretKeyRefSchema,
  restoreTokenSecret: secretKeyRefSchema
    .optional()
    .meta({ description: 'The token the restore Job installs snapshots with: it needs `update` on sys/storage/raft/snapshot (and -force), which a backup token should not have. @default tokenSecret' }),
  restoreForce: z
    .boolean()
    .optional()
    .meta({ description: 'The restore Job installs the snapshot with /sys/storage/raft/snapshot-force: a snapshot of another cluster (other unseal keys), which Vault otherwise refuses. Set it only for that restore. @default false' }),
});

/** Vault: a raft snapshot through the active node. */
export const vault = defineEngine({
  engine: 'vault',
  title: 'Vault',
  schema: vaultServiceSchema,
  example: {
    engine: 'vault',
    namespace: 'vault',
    schedule: 'daily at 02:00',
    address: 'http://vault-active.vault.svc.cluster.local:8200',
    tokenSecret: { name: 'vault-backup', key: 'token' },
    retention: { keepWithin: '14d', keepLast: 7 },
  },
  defaults: { resources: SMALL_RESOURCES, scratchSize: '1Gi' },
  typicalRestoreTime: Duration.minutes(10),
  contract: { variables: '`VAULT_ADDR`', secretBacked: '`VAULT_TOKEN`' },
  drill: { script: 'vault-drill.sh', kinds: ['snapshot'], queries: false, scratchSize: '2Gi', resources: SMALL_DRILL_RESOURCES },
  scripts: () => [LIBRARY, SCRIPT],
  jobs: (s) => [job('snapshot', s.schedule, SCRIPT)],
  env: (s) => [{ name: 'VAULT_ADDR', value: s.address }, { name: 'VAULT_TOKEN', secret: s.tokenSecret }],
  volumes: noVolumes,
  target: (s) => s.address,
  dataClaims: () => [],
  restore: {
    script: RESTORE_SCRIPT,
    modes: ['snapshot'],
    ownSteps: true,
    pod: (s) => ({
      volumes: [],
      mounts: [],
      env: [
        { name: 'VAULT_RESTORE_FORCE', value: s.restoreForce ? 'yes' : '' },
        // A restore token of its own replaces the backup's, which needs only read.
        ...(s.restoreTokenSecret ? [{ name: 'VAULT_TOKEN', secret: s.restoreTokenSecret }] : []),
      ],
    }),
    retarget: { form: 'url', variable: 'VAULT_ADDR' },
  },
  restoreSteps: (s, { serviceId: id, namespace, nfsPath: dir }) => [
    `The restore Job runs \`bash /opt/backup-policy/${RESTORE_SCRIPT} snapshot\` in namespace \`${namespace}\`: it checks the copy from \`${dir}\` (size and BLAKE2b against its manifest, the archive's SHA256SUMS), then POSTs it to \`${s.address}/v1/sys/storage/raft/${s.restoreForce ? 'snapshot-force' : 'snapshot'}\` with ${s.restoreTokenSecret ? `the restore token (Secret \`${s.restoreTokenSecret.name}\`, key \`${s.restoreTokenSecret.key}\`)` : "the backup's token (from its Secret)"} (never in the log), following a standby's redirect to the active node. **A snapshot restore replaces all of Vault's data** (secrets, policies, auth methods, tokens, leases) with the snapshot's: the Job refuses without \`--yes\`.`,
    '',
    '1. **Before**: Vault must be unsealed with an active node (a sealed Vault answers 503 and nothing is installed), and the token in the Secret needs `update` on `sys/storage/raft/snapshot`' + (s.restoreForce ? '-force' : '') + (s.restoreTokenSecret ? '.' : ' (a backup-only token with `read` gets 403: give the service a `restoreTokenSecret` with a token that may restore).'),
    '2. **On a workstation with kubectl**: render and run the Job, and follow it. `--copy snapshot_<ts>.snap` picks a copy other than the newest; `--target http(s)://host:port` sends it to another Vault.',
    '',
    '   ```sh',
    `   npx backup-policy restore ${id} --mode snapshot --yes | kubectl apply -f -`,
    `   kubectl -n ${namespace} logs -f -l backup-policy/service=${id},app.kubernetes.io/component=restore-job`,
    '   ```',
    '',
    `3. **After**: Vault holds the snapshot's data, its tokens included (tokens issued since the snapshot no longer work). ${s.restoreForce ? 'With `restoreForce` the snapshot came from another cluster: unseal Vault with that cluster\'s keys.' : 'A snapshot of another cluster is refused (its unseal keys differ); to install one, set `restoreForce: true` on the service for that restore and unseal with that cluster\'s keys.'}`,
    '',
    `The Job pushes \`backup_restore_last_run_success{service="${id}"}\` and \`backup_restore_duration_seconds\` (the measured restore time). Add \`--print-commands\` for the same procedure as shell commands.`,
  ],
});
