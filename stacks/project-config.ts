import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { PolicyValidationError, formatIssues } from '../policy/values/errors';
import { loadPolicyFile } from '../policy/io/load';
import type { BackupPolicyInput } from '../policy/parse/policy-schema';

/**
 * backup-policy.config.json: the one place that tells both `backup-policy synth` and the app in
 * cdktf.json (so `cdktf diff` and `cdktf deploy`) which policy each stack deploys and where its
 * Terraform state lives. Found at $BACKUP_POLICY_CONFIG, else ./backup-policy.config.json; without
 * one, a single stack `homelab` deploys the bundled homelab policy with local state under
 * ./terraform-state/. Relative paths in the file are relative to the file's folder.
 */
export const CONFIG_FILE = 'backup-policy.config.json';
export const CONFIG_ENV = 'BACKUP_POLICY_CONFIG';

const STACK_ID = /^[a-z][a-z0-9-]{0,62}$/;
const relativeOrAbsolute = z.string().min(1).regex(/^[^\0\n]+$/);

/** Kept out of the synthesized JSON on purpose: credentials come from the environment Terraform runs in. */
export const backendSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('local'),
    path: relativeOrAbsolute.optional().meta({ description: 'State file. @default terraform-state/<stack>.tfstate beside the config (never inside the synth output, which synth replaces)' }),
  }),
  z.strictObject({
    type: z.literal('kubernetes'),
    secretSuffix: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).meta({ description: 'State goes to the Secret tfstate-default-<suffix>.' }),
    namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).default('default'),
  }),
  z.strictObject({
    type: z.literal('s3'),
    bucket: z.string().min(3),
    key: z.string().min(1),
    region: z.string().min(1).default('us-east-1'),
    endpoint: z.url().optional().meta({ description: 'An S3-compatible server (MinIO, Garage, a NAS). Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.' }),
  }),
  z.strictObject({
    type: z.literal('pg'),
    schemaName: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('terraform_remote_state'),
  }),
]);

export type BackendConfig = z.output<typeof backendSchema>;

const configSchema = z.strictObject({
  stacks: z
    .record(z.string().regex(STACK_ID, { error: (iss) => `not a stack id, received ${JSON.stringify(iss.input)}, allowed: lowercase letters, digits and "-", starting with a letter` }), z.strictObject({
      policy: relativeOrAbsolute.optional().meta({ description: 'The policy file (.ts, .yaml, .json). @default the bundled homelab policy' }),
      backend: backendSchema.optional(),
    }))
    .refine((stacks) => Object.keys(stacks).length > 0, { error: 'no stack declared, received an empty object, allowed: at least one stack' }),
});

/** One stack of the project, paths resolved. */
export interface StackConfig {
  id: string;
  /** Absolute path of the policy file, or undefined for the bundled homelab policy. */
  policyFile?: string;
  backend: BackendConfig;
}

export interface ProjectConfig {
  /** Absolute path of the config file, or undefined when none exists (the defaults). */
  file?: string;
  /** Where relative paths and the default state folder are resolved from. */
  root: string;
  stacks: StackConfig[];
}

/** The config in force: $BACKUP_POLICY_CONFIG, ./backup-policy.config.json, or the defaults. */
export function loadProjectConfig(cwd = process.cwd(), env = process.env): ProjectConfig {
  const named = env[CONFIG_ENV];
  const file = named ? resolve(cwd, named) : join(cwd, CONFIG_FILE);
  if (!existsSync(file)) {
    if (named) throw new PolicyValidationError([`${CONFIG_ENV}: no such file, received "${named}", allowed: a ${CONFIG_FILE} (see README: deploying)`]);
    return { root: cwd, stacks: [{ id: 'homelab', backend: { type: 'local' } }] };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new PolicyValidationError([`${file}: not valid JSON (${(error as Error).message})`]);
  }
  const parsed = configSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw new PolicyValidationError(formatIssues(parsed.error).map((i) => `${file}: ${i}`));
  const root = dirname(file);
  return {
    file,
    root,
    stacks: Object.entries(parsed.data.stacks).map(([id, s]) => ({
      id,
      policyFile: s.policy ? resolve(root, s.policy) : undefined,
      backend: s.backend ?? { type: 'local' },
    })),
  };
}

/** The stacks to synthesize: all of them, or the one named (a typo fails, listing the real ones). */
export function selectStacks(config: ProjectConfig, id: string | undefined): StackConfig[] {
  if (id === undefined) return config.stacks;
  const stack = config.stacks.find((s) => s.id === id);
  if (!stack) {
    throw new PolicyValidationError([
      `--stack: no stack "${id}" in ${config.file ?? 'the default project (no ' + CONFIG_FILE + ')'}, allowed: ${config.stacks.map((s) => s.id).join(', ')} (a new name would start from an empty state)`,
    ]);
  }
  return [stack];
}

/** The local state file of a stack, absolute. */
export function localStatePath(config: ProjectConfig, stack: StackConfig): string | undefined {
  if (stack.backend.type !== 'local') return undefined;
  return resolve(config.root, stack.backend.path ?? join('terraform-state', `${stack.id}.tfstate`));
}

/** A stack's policy: its file, or the bundled homelab policy. */
export function loadStackPolicy(file: string | undefined): BackupPolicyInput {
  if (file) return loadPolicyFile(file) as BackupPolicyInput;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./homelab-policy') as typeof import('./homelab-policy')).homelabPolicy;
}
