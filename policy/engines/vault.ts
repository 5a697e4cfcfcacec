import { z } from 'zod';
import { Duration } from '../values/duration';
import { scheduleSchema, secretKeyRefSchema, serviceCommon, urlSchema } from '../schema/fields';
import { SMALL_DRILL_RESOURCES, noVolumes, SMALL_RESOURCES, defineEngine, job } from './engine';

const SCRIPT = 'vault-backup.sh';

export const vaultServiceSchema = z.strictObject({
  engine: z.literal('vault'),
  ...serviceCommon,
  schedule: scheduleSchema,
  address: urlSchema,
  tokenSecret: secretKeyRefSchema,
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
  scripts: () => [SCRIPT],
  jobs: (s) => [job('snapshot', s.schedule, SCRIPT)],
  env: (s) => [{ name: 'VAULT_ADDR', value: s.address }, { name: 'VAULT_TOKEN', secret: s.tokenSecret }],
  volumes: noVolumes,
  target: (s) => s.address,
  dataClaims: () => [],
  restoreSteps: (s, { nfsPath: dir }) => [
    '```sh',
    `ls ${dir}/                                    # snapshot_<ts>.snap`,
    `VAULT_ADDR=${s.address} vault operator raft snapshot restore ${dir}/snapshot_<ts>.snap`,
    '```',
    '',
    "A snapshot from another cluster needs `-force`; unseal keys are those of the snapshot's cluster.",
  ],
});
