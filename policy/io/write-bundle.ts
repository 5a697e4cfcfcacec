import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A file to write with its octal mode ("0755"). */
export interface FileToWrite {
  name: string;
  mode: string;
  content: string;
}

/**
 * Writes a bundle into `dir` (created if missing; must not hold anything else, so a stale file
 * from an older bundle can never be installed by mistake). Returns the names written.
 */
export function writeHostBundle(dir: string, files: FileToWrite[]): string[] {
  mkdirSync(dir, { recursive: true });
  const present = readdirSync(dir);
  if (present.length > 0) throw new Error(`${dir} is not empty (${present.slice(0, 3).join(', ')}...): write the bundle into a new directory`);
  for (const file of files) writeFileSync(join(dir, file.name), file.content, { mode: parseInt(file.mode, 8) });
  return files.map((f) => f.name);
}
