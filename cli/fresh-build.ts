import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SOURCE_DIRS = ['policy', 'constructs', 'stacks', 'cli'];

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * The CLI runs compiled JS for speed. A policy edited after the last build would otherwise be
 * synthesized from the old compiled copy and deployed silently stale, so refuse instead.
 * Returns a message when dist/ is older than a source file, undefined when fresh.
 */
export function staleBuildMessage(root: string, compiledEntry: string): string | undefined {
  if (!existsSync(join(root, 'policy'))) return undefined;
  const built = statSync(compiledEntry).mtimeMs;
  const newest = Math.max(...SOURCE_DIRS.filter((d) => existsSync(join(root, d))).map((d) => newestSource(join(root, d))));
  return newest > built ? 'the compiled CLI in dist/ is older than the TypeScript sources; run `npm run build` first' : undefined;
}
