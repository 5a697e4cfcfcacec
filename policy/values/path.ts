/**
 * File system paths as the policy holds them after parsing: normalized once, so that every guard
 * that compares paths (one backup directory per service, offsite trees that must not overlap)
 * compares the same spelling. `/srv/nfs//postgresql-backup` and `/srv/nfs/postgresql-backup` are
 * one directory to the kernel; compared as raw strings they were two, and one service's retention
 * deleted the other's dumps.
 */

/** Characters a path may hold: no spaces, quotes, globs or anything else a shell would interpret. */
export const SAFE_PATH = /^[A-Za-z0-9._@+/-]+$/;
export const SAFE_PATH_ALLOWED = 'letters, digits and . _ @ + - /, no ".." segment (no spaces, quotes, $, `, ;, |, &, *, ?, or other shell metacharacters)';

/** An absolute path in canonical form: no empty, "." or ".." segment, no trailing slash. */
export type AbsolutePath = string & { readonly __normalized: 'absolute' };
/** A path relative to a volume, in canonical form. */
export type RelativePath = string & { readonly __normalized: 'relative' };

export type PathProblem = { problem: string };

function segmentsOf(text: string): string[] | PathProblem {
  if (!SAFE_PATH.test(text)) return { problem: `path has characters a shell would interpret, allowed: ${SAFE_PATH_ALLOWED}` };
  const segments = text.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) return { problem: `path has a ".." segment, allowed: ${SAFE_PATH_ALLOWED}` };
  return segments;
}

export function normalizeAbsolutePath(text: string): AbsolutePath | PathProblem {
  if (!text.startsWith('/')) return { problem: 'path must be absolute, allowed: a path starting with "/"' };
  const segments = segmentsOf(text);
  if (!Array.isArray(segments)) return segments;
  return `/${segments.join('/')}` as AbsolutePath;
}

export function normalizeRelativePath(text: string): RelativePath | PathProblem {
  if (text.startsWith('/')) return { problem: 'path must be relative to the data volume, allowed: a path without a leading "/"' };
  const segments = segmentsOf(text);
  if (!Array.isArray(segments)) return segments;
  if (segments.length === 0) return { problem: 'path names no file, allowed: a file or folder inside the volume' };
  return segments.join('/') as RelativePath;
}

/** True when `path` is `dir` or lies below it; both normalized, so prefixes compare by segment. */
export function isWithin(path: AbsolutePath, dir: AbsolutePath): boolean {
  return path === dir || dir === '/' || path.startsWith(`${dir}/`);
}

/** Either contains the other: the two trees share files. */
export function overlaps(a: AbsolutePath, b: AbsolutePath): boolean {
  return isWithin(a, b) || isWithin(b, a);
}

export function parentOf(path: AbsolutePath): AbsolutePath {
  const dir = path.slice(0, path.lastIndexOf('/'));
  return (dir === '' ? '/' : dir) as AbsolutePath;
}
