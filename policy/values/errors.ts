import type { z } from 'zod';

/**
 * Thrown when a declaration does not fit the schema; `issues` holds every problem at once.
 * `paths` (parallel to `issues`, when known) lets a loader point each issue at its line in the
 * file the declaration came from.
 */
export class PolicyValidationError extends Error {
  readonly issues: string[];

  constructor(
    issues: string[],
    readonly paths: readonly (readonly PropertyKey[] | undefined)[] = [],
  ) {
    const lines = issues.map(oneLine);
    super(`invalid backup policy:\n${lines.map((i) => `  ${i}`).join('\n')}`);
    this.issues = lines;
    this.name = 'PolicyValidationError';
  }
}

/**
 * One issue, one line: a received value or key with a newline split an issue over lines (and the
 * next line read like another issue), an escape code could rewrite the terminal or CI log.
 */
export function oneLine(issue: string): string {
  // eslint-disable-next-line no-control-regex
  return issue.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const escaped = JSON.stringify(c).slice(1, -1);
    // JSON leaves U+0080-U+009F and the line separators raw: spell those as \uXXXX.
    return escaped === c ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : escaped;
  });
}

/** The command line is wrong: an unknown flag, a missing value, a named file that does not exist. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Something outside the policy and the command line is missing or refuses: git, a repository, a disk. */
export class EnvironmentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvironmentError';
  }
}

/** Exit codes, documented in `backup-policy --help`; scripts and CI branch on them. */
export const EXIT = { ok: 0, invalidPolicy: 1, usage: 2, environment: 3, internal: 4 } as const;

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
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
  // A key with spaces or control characters is quoted, so the path stays one readable token.
  const segment = (p: PropertyKey) => (typeof p === 'number' ? `[${p}]` : /^[\x21-\x7e]+$/.test(String(p)) ? String(p) : JSON.stringify(String(p)));
  return path.map(segment).join('.').replace(/\.\[/g, '[') || '(policy)';
}

/**
 * One line per issue: `dotted.path: what is wrong, received X, allowed Y`. Custom issues already
 * carry the whole sentence; zod's own codes are translated here so every line reads the same.
 */
/** Proposes the field a misspelt one probably meant, given the issue's path inside the schema. */
export type FieldSuggester = (path: readonly PropertyKey[], unknownKey: string) => string | undefined;

export function formatIssue(issue: z.core.$ZodIssue, prefix: readonly PropertyKey[] = [], suggest?: FieldSuggester): string {
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
    case 'unrecognized_keys': {
      const hints = issue.keys.map((key) => suggest?.(issue.path, key)).filter((hint): hint is string => hint !== undefined);
      const hint = hints.length > 0 ? `; did you mean ${hints.map((h) => `\`${h}\``).join(', ')}?` : '';
      return `${dottedPath([...path, issue.keys[0]])}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}${hint}, received ${show(input && typeof input === 'object' ? (input as Record<string, unknown>)[issue.keys[0]] : undefined)}, allowed: only the fields of the schema (see backup-policy.schema.json)`;
    }
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

export function formatIssues(error: z.ZodError, prefix: readonly PropertyKey[] = [], suggest?: FieldSuggester): string[] {
  return error.issues.map((issue) => formatIssue(issue, prefix, suggest));
}

/** The path each of formatIssues' lines is about (an unknown field's path ends with that field). */
export function issuePaths(error: z.ZodError, prefix: readonly PropertyKey[] = []): PropertyKey[][] {
  return error.issues.map((issue) => [...prefix, ...issue.path, ...(issue.code === 'unrecognized_keys' ? [issue.keys[0]] : [])]);
}

/** Edit distance with transpositions: "retnetion" is one step from "retention". */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The candidate closest to `word`, when close enough to be a typo (a third of its letters, at least one). */
export function closestName(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = name.toLowerCase() === lower ? 0 : editDistance(lower, name.toLowerCase());
    if (!best || distance < best.distance) best = { name, distance };
  }
  return best && best.distance <= Math.max(1, Math.floor(word.length / 3)) ? best.name : undefined;
}
