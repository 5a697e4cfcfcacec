export * from '../policy/index';
export { BackupPolicy, type BackupPolicyProps } from './backup-policy';
export { ServiceBackup } from './service-backup';
export * from './engine-backups';
export { BackupStack, type BackupStackProps } from '../stacks/backup-stack';
