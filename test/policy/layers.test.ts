import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { packageRoot } from '../../policy/io/scripts';

/** The layers of .dependency-cruiser.cjs hold for the whole tree, and the rules are live. */
const root = packageRoot();
const depcruise = join(root, 'node_modules', '.bin', 'depcruise');
const config = join(root, '.dependency-cruiser.cjs');

function cruise(cwd: string, paths: string[]): { code: number; output: string } {
  try {
    const output = execFileSync(depcruise, ['--config', config, '--output-type', 'err', ...paths], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { code: 0, output };
  } catch (error) {
    const e = error as { status: number; stdout: string; stderr: string };
    return { code: e.status, output: `${e.stdout}${e.stderr}` };
  }
}

test('every import points down the layers (values <- schema <- engines <- parse <- plan <- render/checks <- constructs <- stacks <- cli)', () => {
  const result = cruise(root, ['policy', 'constructs', 'stacks', 'cli']);
  expect(result.output).toContain('no dependency violations found');
  expect(result.code).toBe(0);
});

test('an upward import, a renderer touching the file system and a cycle are each reported', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bp-layers-'));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  try {
    write('policy/plan/plan.ts', "export const plan = 1;\n");
    write('policy/values/duration.ts', "import { plan } from '../plan/plan';\nexport const d = plan;\n");
    write('policy/render/docs.ts', "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n");
    write('policy/checks/a.ts', "import { b } from './b';\nexport const a = () => b;\n");
    write('policy/checks/b.ts', "import { a } from './a';\nexport const b = () => a;\n");
    const result = cruise(dir, ['policy']);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('values-imports-only-below');
    expect(result.output).toContain('pure-renderers-and-checks');
    expect(result.output).toContain('no-circular');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
