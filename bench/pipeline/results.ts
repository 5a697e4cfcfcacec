import * as fs from 'node:fs';
import * as path from 'node:path';

const RESULTS = path.resolve(__dirname, '..', '..', '..', 'bench', 'results.md');

/** Replaces this section in results.md (or appends it); the other sections stay as they are. */
export function writeSection(section: string, text: string): void {
  const current = fs.existsSync(RESULTS) ? fs.readFileSync(RESULTS, 'utf8') : '';
  const begin = `<!-- pipeline:${section} begin -->`;
  const end = `<!-- pipeline:${section} end -->`;
  const a = current.indexOf(begin);
  const b = current.indexOf(end);
  const next = a >= 0 && b > a ? current.slice(0, a) + text + current.slice(b + end.length) : `${current.trimEnd()}\n\n${text}\n`;
  fs.writeFileSync(RESULTS, next);
}
