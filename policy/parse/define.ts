import type { BackupPolicyInput } from './policy-schema';

/**
 * Types a policy written in TypeScript. Parsing happens once, at the boundary that consumes the
 * policy (the BackupPolicy construct, the CLI), so a file can be loaded and validated with every
 * issue reported at once instead of failing at import time.
 */
export function defineBackupPolicy(policy: BackupPolicyInput): BackupPolicyInput {
  return policy;
}
