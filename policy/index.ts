/** The policy core's public surface: no cdktf, constructs or provider import may appear below policy/. */
export { defineBackupPolicy } from './parse/define';
export { Duration } from './values/duration';
export { Schedule } from './values/schedule';
export { Retention } from './values/retention';
export { PolicyValidationError } from './values/errors';
export { parsePolicy } from './parse/parse';
export { policySchema } from './parse/policy-schema';
export type { BackupPolicyInput, ParsedPolicy } from './parse/policy-schema';
export { serviceSchema, ENGINE_MODULES } from './engines/registry';
export type { ServiceInput, ParsedService, Engine } from './engines/registry';
export type { EngineModule } from './engines/engine';
export { planPolicy, planParsedPolicy, staleAfter } from './plan/plan';
export type { BackupPlan, PlannedJob, PlannedService } from './plan/plan';
export { HOST_JOB_NAMES, CHANGE_TRACKER_NAME } from './plan/host-plan';
export type { HostPlan, PlannedHostTimerJob, PlannedHostService } from './plan/host-plan';
export type { HostInput, HostDeclaration } from './schema/host';
