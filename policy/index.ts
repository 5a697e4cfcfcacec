/** The policy core: no cdktf, constructs or provider import may appear below policy/. */
export { defineBackupPolicy } from './define';
export { Duration } from './duration';
export { Schedule } from './schedule';
export { Retention } from './retention';
export { PolicyValidationError } from './errors';
export { parsePolicy, planPolicy, staleAfter } from './plan';
export type { BackupPlan, PlannedJob, PlannedService } from './plan';
export { policySchema, serviceSchema } from './schema';
export type { BackupPolicyInput, BackupPolicyDeclaration, ServiceInput, Engine } from './schema';
export { planHost, HOST_JOB_NAMES, CHANGE_TRACKER_NAME } from './host-plan';
export type { HostPlan, PlannedHostTimerJob, PlannedHostService } from './host-plan';
export type { HostInput, HostDeclaration } from './schema';
