import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../policy/io/scripts';

/**
 * Every mistake a user can make on the command line gets one line naming the file or flag and
 * what to do, never a Node stack trace, and an exit code that says whose problem it is:
 * 1 invalid policy, 2 usage, 3 environment.
 */
const root = packageRoot();
const immich = join(root, 'examples/immich.yaml');

function cli(args: string[], cwd = root) {
  const result = spawnSync(process.execPath, [join(root, 'bin/backup-policy.js'), ...args], { cwd, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** No Node stack frame ("    at f (file:1:2)") and no uncaught-exception banner. */
function expectNoStackTrace(text: string) {
  expect(text).not.toMatch(/^\s+at .*\(?.*:\d+:\d+\)?$/m);
  expect(text).not.toMatch(/throw error|node:internal|Error: /);
}

let work: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'bp-input-'));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(work, name);
  writeFileSync(file, text);
  return file;
}

const policyYaml = (services: string) =>
  ['timeZone: Europe/London', 'nfs: { server: 192.168.1.127 }', 'pushgateway: { url: "http://pgw:9091" }', 'services:', services].join('\n');
const redisService = (id: string, extra = '') =>
  [`  ${id}:`, '    engine: redis', '    namespace: cache', '    schedule: daily at 03:00', '    connection: { host: redis }', '    retention: { keepWithin: 14d, keepLast: 4 }', extra].filter(Boolean).join('\n');

describe('mistakes get one line and the right exit code', () => {
  const cases: [string, () => string[], number, RegExp][] = [
    ['a missing policy file', () => ['validate', join(work, 'nope.yaml')], 2, /nope\.yaml: no such policy file; check the path/],
    ['a missing synth --policy file', () => ['synth', '--policy', join(work, 'nope.ts'), '--out', join(work, 'out')], 2, /nope\.ts: no such policy file/],
    ['a missing --pvcs file', () => ['lint', '--policy', immich, '--pvcs', join(work, 'nope.json')], 2, /--pvcs .*nope\.json: no such file; pass the output of kubectl get pvc -A -o json/],
    ['a non-JSON --pvcs file', () => ['lint', '--policy', immich, '--pvcs', write('pvcs.json', 'NAME STATUS\nx Bound\n')], 2, /--pvcs .*pvcs\.json: not JSON .*; pass the output of kubectl/],
    ['a JSON --pvcs file that is no PVC list', () => ['lint', '--policy', immich, '--pvcs', write('pvcs.json', '{"items": [1]}')], 2, /--pvcs .*: not a PVC list/],
    ['a bad --base', () => ['plan-review', '--base', 'no-such-revision-xyz', '--policy', immich], 2, /--base no-such-revision-xyz: not a commit in .*; give a branch, tag or commit/],
    ['a policy outside a git repository', () => ['plan-review', '--base', 'HEAD', '--policy', write('p.yaml', policyYaml(redisService('cache')))], 3, /p\.yaml: not inside a git repository; .*run it in a checkout/],
    ['a stack id with a space', () => ['synth', '--policy', immich, '--out', join(work, 'out'), '--stack', 'my stack'], 2, /--stack "my stack": not a stack id; use lowercase letters, digits/],
    ['a file type that is no policy', () => ['validate', write('policy.toml', '')], 2, /policy\.toml: not a policy file name; give a \.ts, \.js, \.yaml, \.yml or \.json file/],
    ['an unknown option', () => ['validate', '--strict', immich], 2, /unknown option --strict/],
    ['a file name with a newline and an escape code', () => ['validate', join(work, 'a\n\u001b[2Jb.yaml')], 2, /a\\n\\u001b\[2Jb\.yaml: no such policy file/],
    ['an unknown command', () => ['frobnicate'], 2, /unknown command "frobnicate"; run backup-policy --help/],
    ['an --out folder that cannot be created', () => ['synth', '--policy', immich, '--out', join(write('a-file', ''), 'out')], 3, /cannot .* \(ENOTDIR\)|cannot .* \(EEXIST\)|cannot .*a-file/],
    [
      'small YAML alias nests (billion laughs)',
      () => ['validate', write('laughs.yaml', 'a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n')],
      1,
      /laughs\.yaml: YAML aliases expand too far/,
    ],
    ['a 400-digit duration', () => ['validate', write('big.yaml', policyYaml(redisService('cache')).replace('keepWithin: 14d', `keepWithin: ${'9'.repeat(400)}d`))], 1, /big\.yaml:\d+:\d+: services\.cache\.retention\.keepWithin: not a duration, received "9{20}/],
    ['a service id "constructor"', () => ['validate', write('ctor.yaml', policyYaml(redisService('constructor')))], 1, /ctor\.yaml:5:3: services\.constructor: reserved key/],
    ['a service id "__proto__" (it vanished silently)', () => ['validate', write('proto.yaml', policyYaml(redisService('__proto__')))], 1, /proto\.yaml:5:3: services\.__proto__: reserved key/],
    ['a TypeScript policy that does not compile', () => ['validate', write('broken.ts', 'export const policy = { services: { a: 1 }\n')], 1, /broken\.ts:2:1: '}' expected\. \(TS1005\)/],
    ['a TypeScript policy that throws when loaded', () => ['validate', write('throws.ts', 'const x: any = undefined;\nexport const policy = x.services;\n')], 1, /throws\.ts: running the policy module failed: Cannot read properties of undefined/],
  ];

  test.each(cases)('%s', (_name, args, code, message) => {
    const result = cli(args());
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code, stdout: '' });
    expect(result.stderr).toMatch(message);
    expectNoStackTrace(result.stderr);
    // The message is one line; an invalid policy adds its count, a usage error the usage line.
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toMatch(message);
    expect(lines.length).toBeLessThanOrEqual(code === 3 ? 1 : 2);
  });

  test('an invalid policy writes nothing, whatever the command', () => {
    const bad = write('bad.yaml', policyYaml(redisService('cache', '    retnetion: 1')));
    for (const args of [['synth', '--policy', bad, '--out', join(work, 'out')], ['generate', '--policy', bad, '--dir', join(work, 'gen')], ['host-bundle', '--policy', bad, '--out', join(work, 'host')]]) {
      expect(cli(args).code).toBe(1);
    }
    expect(readdirSync(work)).toEqual(['bad.yaml']);
  });
});

describe('help and version', () => {
  test.each(['validate', 'synth', 'plan-review', 'lint', 'schema', 'host-bundle', 'generate'])('%s --help and -h print that verb\'s usage and exit 0', (verb) => {
    for (const flag of ['--help', '-h']) {
      const { code, stdout, stderr } = cli([verb, flag]);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      expect(stdout).toMatch(new RegExp(`^usage: backup-policy ${verb}\\b`));
      // schema --help once printed 77 KB of schema.
      expect(stdout.length).toBeLessThan(2000);
    }
  });

  test('--help documents the exit codes', () => {
    const { code, stdout } = cli(['--help']);
    expect(code).toBe(0);
    for (const line of [/^ {2}1 {2}the policy or the project configuration is invalid/m, /^ {2}2 {2}usage/m, /^ {2}3 {2}environment/m]) expect(stdout).toMatch(line);
  });

  test('--version prints the package version', () => {
    expect(cli(['--version'])).toEqual({ code: 0, stdout: `${require(join(root, 'package.json')).version}\n`, stderr: '' });
  });
});

describe('errors point into the file', () => {
  test('every schema issue carries file:line:column of its YAML node, and unknown keys get a suggestion', () => {
    const file = write(
      'typo.yaml',
      policyYaml([redisService('cache').replace('retention:', 'retnetion:'), '  db:', '    engine: postgress', '    namespace: db'].join('\n')),
    );
    const { code, stderr } = cli(['validate', file]);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      `${file}:6:5: services.cache.retention: missing required field, received nothing, allowed: object`,
      expect.stringMatching(new RegExp(`^${file}:10:16: services\\.cache\\.retnetion: unknown field "retnetion"; did you mean \`retention\`\\?`)),
      expect.stringMatching(new RegExp(`^${file}:12:13: services\\.db\\.engine: unknown engine, received "postgress"`)),
      '3 issues found; nothing was written',
    ]);
  });

  test('one tab gives one error with line and column', () => {
    const file = write('tab.yaml', policyYaml(redisService('cache')).replace('    namespace: cache', '\tnamespace: cache'));
    const { code, stderr } = cli(['validate', file]);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^${file}:7:1: not valid YAML/JSON: Tabs are not allowed`)), '1 issue found; nothing was written']);
  });

  test('a JSON syntax error carries line and column', () => {
    const file = write('p.json', '{\n  "timeZone": "UTC",\n  "nfs": { "server": "x" ]\n}\n');
    const { code, stderr } = cli(['validate', file]);
    expect(code).toBe(1);
    expect(stderr).toMatch(new RegExp(`^${file}:3:\\d+: not valid YAML/JSON`));
  });

  test('duplicate keys inside list items are rejected with their path and position', () => {
    const file = write(
      'dup.yaml',
      policyYaml(redisService('cache', '    placement:\n      tolerations:\n        - key: a\n          key: b\n          operator: Exists')),
    );
    const { code, stderr } = cli(['validate', file]);
    expect(code).toBe(1);
    expect(stderr).toContain(`${file}:14:11: services.cache.placement.tolerations[0].key: duplicate key, received "key" twice`);
  });

  test('a TypeScript policy with two services under one key is refused as such', () => {
    const define = join(root, 'policy/parse/define');
    const service = (ns: string) => `{ engine: 'redis', namespace: '${ns}', schedule: 'daily', connection: { host: 'r' }, retention: { keepWithin: '1d', keepLast: 1 } }`;
    const file = write(
      'dup.ts',
      [
        `import { defineBackupPolicy } from ${JSON.stringify(define)};`,
        'export const policy = defineBackupPolicy({',
        "  timeZone: 'UTC', nfs: { server: '10.0.0.1' }, pushgateway: { url: 'http://p:9091' },",
        '  services: {',
        `    cache: ${service('a')},`,
        `    cache: ${service('b')},`,
        '  },',
        '});',
      ].join('\n'),
    );
    const { code, stderr } = cli(['validate', file]);
    expect(code).toBe(1);
    expect(stderr).toContain(`${file}:6:5: An object literal cannot have multiple properties with the same name. (TS1117)`);
  });

  test('schema issues of a TypeScript policy point at the field in the exported literal', () => {
    const define = join(root, 'policy/parse/define');
    const file = write(
      'located.ts',
      [
        `import { defineBackupPolicy } from ${JSON.stringify(define)};`,
        'export const policy = defineBackupPolicy({',
        "  timeZone: 'UTC', nfs: { server: '10.0.0.1' }, pushgateway: { url: 'http://p:9091' },",
        '  services: {',
        '    cache: {',
        "      engine: 'redis', namespace: 'cache',",
        "      schedule: '0 0 L * *',",
        "      connection: { host: 'r' }, retention: { keepWithin: '1d', keepLast: 1 },",
        '    },',
        '  },',
        '});',
      ].join('\n'),
    );
    const { code, stderr } = cli(['validate', file]);
    expect(code).toBe(1);
    expect(stderr).toMatch(new RegExp(`^${file}:7:17: services\\.cache\\.schedule: uses "L"`, 'm'));
  });

  test('a TypeScript policy that does not fit the types is refused before it runs', () => {
    const define = join(root, 'policy/parse/define');
    const file = write('typed.ts', [`import { defineBackupPolicy } from ${JSON.stringify(define)};`, "export const policy = defineBackupPolicy({ timeZone: 3, services: {} });"].join('\n'));
    const { code, stderr } = cli(['validate', file]);
    expect(code).toBe(1);
    expect(stderr).toMatch(new RegExp(`^${file}:2:\\d+: .*\\(TS\\d+\\)$`, 'm'));
  });
});

test('a stale build is an environment problem (exit 3)', () => {
  // A copy of the package whose compiled CLI is older than a source file.
  const copy = join(work, 'pkg');
  mkdirSync(copy);
  spawnSync('cp', ['-r', join(root, 'bin'), join(root, 'dist'), join(root, 'package.json'), join(root, 'host-scripts'), copy]);
  mkdirSync(join(copy, 'policy'));
  writeFileSync(join(copy, 'policy', 'newer.ts'), '');
  const result = spawnSync(process.execPath, [join(copy, 'bin/backup-policy.js'), 'validate', immich], { encoding: 'utf8' });
  expect(result.status).toBe(3);
  expect(result.stderr.trim()).toMatch(/^backup-policy validate: the compiled CLI in dist\/ is older than the TypeScript sources; run `npm run build` first$/);
});
