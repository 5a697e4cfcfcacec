import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { packageRoot } from '../../policy/io/scripts';

const root = packageRoot();
const FORBIDDEN = /from\s+['"](cdktf|constructs|@cdktf\/[^'"]+)['"]|require\(['"](cdktf|constructs|@cdktf\/[^'"]+)['"]\)/;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('the policy core has no cdktf import', () => {
  test('no file under policy/ imports cdktf, constructs or a provider package', () => {
    const offenders = tsFiles(join(root, 'policy')).filter((f) => FORBIDDEN.test(readFileSync(f, 'utf8'))).map((f) => relative(root, f));
    expect(offenders).toEqual([]);
  });

  test('the rule would catch an import (the pattern is not vacuous)', () => {
    expect(FORBIDDEN.test("import { App } from 'cdktf';")).toBe(true);
    expect(FORBIDDEN.test("import { CronJobV1 } from '@cdktf/provider-kubernetes/lib/cron-job-v1';")).toBe(true);
    expect(FORBIDDEN.test("import { Construct } from 'constructs';")).toBe(true);
  });

  test('loading the whole core at run time loads no cdktf module', () => {
    const script = `
      for (const f of ['index', 'render/kubernetes', 'render/generated-files', 'checks/lint', 'checks/review', 'checks/coverage', 'io/load', 'parse/json-schema']) require(${JSON.stringify(join(root, 'dist/policy'))} + '/' + f);
      const loaded = Object.keys(require.cache).filter((p) => /node_modules\\/(cdktf|constructs|@cdktf)\\//.test(p));
      process.stdout.write(JSON.stringify(loaded));`;
    expect(JSON.parse(execFileSync(process.execPath, ['-e', script]).toString())).toEqual([]);
  });

  test('every cdktf import lives in constructs/ or stacks/', () => {
    const dirs = ['policy', 'cli', 'constructs', 'stacks'];
    const importing = dirs.flatMap((d) => tsFiles(join(root, d))).filter((f) => FORBIDDEN.test(readFileSync(f, 'utf8'))).map((f) => relative(root, f).split('/')[0]);
    expect([...new Set(importing)].sort()).toEqual(['constructs', 'stacks']);
  });
});
