import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The package root, found from this file whether it runs from source or from dist/. */
let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'host-scripts'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the backup-policy package root above ${__dirname}`);
    dir = parent;
  }
  root = dir;
  return dir;
}

export function scriptsDir(): string {
  return join(packageRoot(), 'host-scripts');
}

const scriptCache = new Map<string, string>();

/** The exact bytes of a job script, as the pod must receive them (read once per process). */
export function readScript(name: string): string {
  let text = scriptCache.get(name);
  if (text === undefined) {
    text = readFileSync(join(scriptsDir(), name), 'utf8');
    scriptCache.set(name, text);
  }
  return text;
}
