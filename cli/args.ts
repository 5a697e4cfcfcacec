import type { BackupPolicyInput } from '../policy/parse/policy-schema';
import { loadPolicyFile } from '../policy/io/load';

/** A mistake in how the command was called (exit 2, with the usage). */
export class UsageError extends Error {}

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
  if (args.length > 0) throw new UsageError(`unexpected arguments: ${args.join(' ')}`);
}

/** The policy a command works on: a file, or the bundled homelab policy. */
export function loadPolicy(file: string | undefined): BackupPolicyInput {
  if (file) return loadPolicyFile(file) as BackupPolicyInput;
  // The bundled policy is loaded lazily so that `validate FILE` never touches it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../stacks/homelab-policy') as typeof import('../stacks/homelab-policy')).homelabPolicy;
}
