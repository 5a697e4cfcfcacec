import type { z } from 'zod';

/** Thrown when a declaration does not fit the schema; `issues` holds every problem at once. */
export class PolicyValidationError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid backup policy:\n${issues.map((i) => `  ${i}`).join('\n')}`);
    this.name = 'PolicyValidationError';
  }
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = typeof value === 'string' ? `"${value}"` : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function typeName(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${show(value)}`;
}

export function dottedPath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[') || '(policy)';
}

/**
 * One line per issue: `dotted.path: what is wrong, received X, allowed Y`. Custom issues already
 * carry the whole sentence; zod's own codes are translated here so every line reads the same.
 */
export function formatIssue(issue: z.core.$ZodIssue, prefix: readonly PropertyKey[] = []): string {
  const path = [...prefix, ...issue.path];
  const at = dottedPath(path);
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_union': {
      if ('discriminator' in issue && issue.discriminator) {
        const received = input && typeof input === 'object' ? (input as Record<string, unknown>)[issue.discriminator as string] : undefined;
        const options = ((issue as unknown as { options?: unknown[] }).options ?? []).map(String).join(', ');
        const wrong = received === undefined ? `missing ${issue.discriminator}` : `unknown ${issue.discriminator}`;
        return `${at}: ${wrong}, received ${show(received)}, allowed: ${options}`;
      }
      return `${at}: matches none of the allowed forms, received ${show(input)}`;
    }
    case 'unrecognized_keys':
      return `${dottedPath([...path, issue.keys[0]])}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}, received ${show(input && typeof input === 'object' ? (input as Record<string, unknown>)[issue.keys[0]] : undefined)}, allowed: only the fields of the schema (see backup-policy.schema.json)`;
    case 'invalid_key':
      return `${at}: ${issue.issues.map((i) => i.message).join('; ')}`;
    case 'invalid_type':
      if (issue.message && !issue.message.startsWith('Invalid input')) return `${at}: ${issue.message}`;
      return `${at}: ${input === undefined ? 'missing required field' : 'wrong type'}, received ${typeName(input)}, allowed: ${issue.expected}`;
    case 'invalid_value':
      return `${at}: not an allowed value, received ${show(input)}, allowed: ${issue.values.map((v) => show(v)).join(', ')}`;
    case 'too_small':
    case 'too_big':
      if (issue.message && !/^Too (small|big)/.test(issue.message)) return `${at}: ${issue.message}`;
      return `${at}: ${issue.code === 'too_small' ? 'too small' : 'too big'}, received ${show(input)}, allowed: ${issue.code === 'too_small' ? 'at least' : 'at most'} ${String(issue.code === 'too_small' ? issue.minimum : issue.maximum)}${issue.origin === 'array' ? ' entries' : ''}`;
    case 'invalid_format':
      if (issue.message && !issue.message.startsWith('Invalid')) return `${at}: ${issue.message}`;
      return `${at}: wrong format, received ${show(input)}, allowed: ${issue.format === 'regex' ? `text matching ${(issue as { pattern?: string }).pattern}` : issue.format}`;
    default:
      return `${at}: ${issue.message}`;
  }
}

export function formatIssues(error: z.ZodError, prefix: readonly PropertyKey[] = []): string[] {
  return error.issues.map((issue) => formatIssue(issue, prefix));
}
