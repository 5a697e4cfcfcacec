export * from '../policy/index';
export { BackupPolicy, type BackupPolicyProps } from './backup-policy';
export { ServiceBackup } from './service-backup';
export * from './engine-backups';
export { HostDeployment, type HostDeploymentProps, HOST_STAGING_DIR } from './host-deployment';
