import type { BackupPolicyInput } from '../policy/parse/policy-schema';
import { loadPolicySource, type PolicySource } from '../policy/io/load';
import { PolicyValidationError, UsageError } from '../policy/values/errors';

export { UsageError };

/** Where a command writes: stdout lines and stderr lines (tests pass collectors). */
export interface CommandIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

export type Command = (args: string[], io: CommandIo) => number;

/** Takes `name VALUE` out of args. */
export function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  const value = args[i + 1];
  if (value === undefined || value.startsWith('--')) throw new UsageError(`${name} needs a value`);
  args.splice(i, 2);
  return value;
}

/** Every value of a repeatable option. */
export function options(args: string[], name: string): string[] {
  const values: string[] = [];
  for (let value = option(args, name); value !== undefined; value = option(args, name)) values.push(value);
  return values;
}

export function noMoreArguments(args: string[]): void {
  const flag = args.find((a) => a.startsWith('-'));
  if (flag) throw new UsageError(`unknown option ${flag}`);
  if (args.length > 0) throw new UsageError(`unexpected arguments: ${args.join(' ')}`);
}

/** The policy a command works on: a file, or the bundled homelab policy (no file to point into). */
export function loadPolicy(file: string | undefined): PolicySource {
  if (file) return loadPolicySource(file);
  // The bundled policy is loaded lazily so that `validate FILE` never touches it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const value: BackupPolicyInput = (require('../stacks/homelab-policy') as typeof import('../stacks/homelab-policy')).homelabPolicy;
  return { file: 'stacks/homelab-policy.ts', value, locate: () => undefined };
}

/**
 * Runs `work` on a loaded policy; its validation errors come back pointing into the file
 * (`file:line:col: path: message`), so an editor or terminal jumps straight to the line.
 */
export function withPolicySource<T>(source: PolicySource, work: (policy: BackupPolicyInput) => T): T {
  try {
    return work(source.value as BackupPolicyInput);
  } catch (error) {
    if (!(error instanceof PolicyValidationError)) throw error;
    throw new PolicyValidationError(
      error.issues.map((issue, i) => {
        if (issue.startsWith(source.file)) return issue;
        const path = error.paths[i];
        const position = path ? source.locate(path) : undefined;
        return position ? `${source.file}:${position.line}:${position.col}: ${issue}` : `${source.file}: ${issue}`;
      }),
      error.paths,
    );
  }
}
