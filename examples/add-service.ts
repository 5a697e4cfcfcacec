import { App } from 'cdktf';
import { BackupStack } from '../stacks/backup-stack';
import { homelabPolicy } from '../stacks/homelab-policy';
import { PostgresBackup } from '../constructs/engine-backups';

/**
 * The README's example, compiled and tested: the homelab plus two services added with one
 * construct call each. Run: `npm run build && node dist/examples/add-service.js`.
 */
export function buildExample(app: App): BackupStack {
  const stack = new BackupStack(app, 'homelab-plus', { policy: homelabPolicy });
  stack.policy.addService('immich-db', {
    engine: 'postgres',
    namespace: 'immich',
    connection: {
      host: 'immich-postgres.immich.svc.cluster.local',
      passwordSecret: { name: 'immich-db-backup', key: 'password' },
    },
    perDatabase: { schedule: 'daily at 01:30' },
    retention: { keepWithin: '14d', keepLast: 7 },
  });
  new PostgresBackup(stack.policy, 'forgejo-db', {
    namespace: 'forgejo',
    connection: { host: 'forgejo-postgres.forgejo.svc.cluster.local', passwordSecret: { name: 'forgejo-db-backup', key: 'password' } },
    full: { schedule: 'daily at 01:45' },
    retention: { keepWithin: '14d', keepLast: 7 },
  });
  return stack;
}

if (require.main === module) {
  const app = new App({ outdir: 'cdktf.out' });
  buildExample(app);
  app.synth();
}
