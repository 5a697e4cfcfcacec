import type { ServiceInput } from '../policy/engines/registry';
import type { BackupPolicy } from './backup-policy';
import { ServiceBackup } from './service-backup';

/** A service's options without the engine, which the construct's class already says. */
export type EngineOptions<E extends ServiceInput['engine']> = Omit<Extract<ServiceInput, { engine: E }>, 'engine'>;

/**
 * One class per engine, for people who prefer `new PostgresBackup(policy, 'immich-db', {...})`
 * to `policy.addService('immich-db', { engine: 'postgres', ... })`. Both go through the same
 * validation and planning.
 */
abstract class EngineBackup<E extends ServiceInput['engine']> extends ServiceBackup {
  protected constructor(policy: BackupPolicy, id: string, engine: E, options: EngineOptions<E>) {
    super(policy, id, policy.planNewService(id, { engine, ...options } as unknown as ServiceInput));
    policy.register(this);
  }
}

export class PostgresBackup extends EngineBackup<'postgres'> {
  constructor(policy: BackupPolicy, id: string, options: EngineOptions<'postgres'>) {
    super(policy, id, 'postgres', options);
  }
}

export class MysqlBackup extends EngineBackup<'mysql'> {
  constructor(policy: BackupPolicy, id: string, options: EngineOptions<'mysql'>) {
    super(policy, id, 'mysql', options);
  }
}

export class EtcdBackup extends EngineBackup<'etcd'> {
  constructor(policy: BackupPolicy, id: string, options: EngineOptions<'etcd'>) {
    super(policy, id, 'etcd', options);
  }
}

export class VaultBackup extends EngineBackup<'vault'> {
  constructor(policy: BackupPolicy, id: string, options: EngineOptions<'vault'>) {
    super(policy, id, 'vault', options);
  }
}

export class RedisBackup extends EngineBackup<'redis'> {
  constructor(policy: BackupPolicy, id: string, options: EngineOptions<'redis'>) {
    super(policy, id, 'redis', options);
  }
}

export class SqliteBackup extends EngineBackup<'sqlite'> {
  constructor(policy: BackupPolicy, id: string, options: EngineOptions<'sqlite'>) {
    super(policy, id, 'sqlite', options);
  }
}
