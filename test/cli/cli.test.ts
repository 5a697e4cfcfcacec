import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../policy/io/scripts';
import { renderPolicyJsonSchema } from '../../policy/parse/json-schema';

const root = packageRoot();

/** The CLI as a user runs it: the package's bin, in its own process. */
function cli(args: string[], cwd = root) {
  const result = spawnSync(process.execPath, [join(root, 'bin/backup-policy.js'), ...args], { cwd, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

let work: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'bp-cli-'));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

describe('validate', () => {
  test.each(['stacks/homelab-policy.ts', 'examples/immich.yaml', 'examples/immich.json'])('%s: one line per service, exit 0', (file) => {
    const { code, stdout, stderr } = cli(['validate', file]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const lines = stdout.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^valid: \d+ services, \d+ jobs, time zone Europe\/London$/);
  });

  test('the homelab lines say engine, schedule in words and retention', () => {
    const { stdout } = cli(['validate', 'stacks/homelab-policy.ts']);
    expect(stdout).toMatch(/^postgresql +postgres +dbaas +full at 00:00; per-database at 00:15; keep 14 days, at least the newest 7$/m);
    expect(stdout).toMatch(/^etcd +etcd +kube-system +snapshot at 02:30, only on Sunday; keep 30 days, at least the newest 4$/m);
    expect(stdout).toMatch(/^vaultwarden +sqlite +vaultwarden +snapshot on the hour, every 6 hours; integrity at 30 minutes past the hour; keep 30 days/m);
  });

  test('an invalid YAML policy lists every issue with its path and exits 1', () => {
    const file = join(work, 'bad.yaml');
    writeFileSync(
      file,
      [
        'timeZone: Europe/London',
        'nfs: { server: 192.168.1.127 }',
        'pushgateway: { url: "http://pgw:9091" }',
        'services:',
        '  db:',
        '    engine: mongodb',
        '    namespace: x',
        '  cache:',
        '    engine: redis',
        '    namespace: redis',
        '    schedule: "0 3 * *"',
        '    connection: { host: redis }',
        '    retention: { keepWithin: 2 weeks, keepLast: 4 }',
      ].join('\n'),
    );
    const { code, stdout, stderr } = cli(['validate', file]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    const lines = stderr.trim().split('\n');
    expect(lines).toEqual([
      `${file}:6:13: services.db.engine: unknown engine, received "mongodb", allowed: postgres, mysql, etcd, vault, redis, sqlite`,
      expect.stringMatching(/:13:30: services\.cache\.retention\.keepWithin: not a duration, received "2 weeks", allowed: /),
      expect.stringMatching(/:11:15: services\.cache\.schedule: expected 5 cron fields .* received "0 3 \* \*", allowed: /),
      '3 issues found; nothing was written',
    ]);
  });

  test.each([
    ['yaml', 'services:\n  a: { engine: redis }\n  a: { engine: redis }\n'],
    ['json', '{"services": {"a": {"engine": "redis"}, "a": {"engine": "redis"}}}'],
  ])('a duplicate service id in %s is an error, not a silent overwrite', (ext, text) => {
    const file = join(work, `dup.${ext}`);
    writeFileSync(file, text);
    const { code, stderr } = cli(['validate', file]);
    expect(code).toBe(1);
    expect(stderr).toContain('services.a: duplicate service id, received "a" twice');
  });

  test('an unsupported file type is refused', () => {
    const file = join(work, 'policy.toml');
    writeFileSync(file, '');
    expect(cli(['validate', file])).toEqual(expect.objectContaining({ code: 2, stderr: expect.stringContaining('not a policy file name') }));
  });
});

describe('synth', () => {
  test('writes the bundled policy by default', () => {
    const out = join(work, 'out');
    const { code, stdout } = cli(['synth', '--out', out]);
    expect(code).toBe(0);
    expect(stdout).toContain('synthesized stack "homelab"');
    const stack = JSON.parse(readFileSync(join(out, 'stacks/homelab/cdk.tf.json'), 'utf8'));
    // 9 backup CronJobs and 8 weekly restore drills (one per service and kind of copy).
    expect(Object.keys(stack.resource.kubernetes_cron_job_v1)).toHaveLength(17);
  });

  test('a YAML policy file synthesizes the same way', () => {
    const out = join(work, 'out');
    expect(cli(['synth', '--policy', 'examples/immich.yaml', '--out', out]).code).toBe(0);
    const stack = JSON.parse(readFileSync(join(out, 'stacks/homelab/cdk.tf.json'), 'utf8'));
    expect(Object.keys(stack.resource.kubernetes_cron_job_v1)).toHaveLength(2);
  });

  test('an invalid policy writes nothing and leaves the previous output untouched', () => {
    const out = join(work, 'cdktf.out');
    mkdirSync(out);
    writeFileSync(join(out, 'previous.json'), 'kept');
    const bad = join(work, 'bad.json');
    writeFileSync(bad, JSON.stringify({ timeZone: 'UTC', services: {} }));
    const { code, stderr } = cli(['synth', '--policy', bad, '--out', out]);
    expect(code).toBe(1);
    expect(stderr).toContain('nfs: missing required field');
    expect(readdirSync(out)).toEqual(['previous.json']);
    expect(readdirSync(work).sort()).toEqual(['bad.json', 'cdktf.out']);
  });

  test('an invalid policy into a fresh folder creates no folder at all', () => {
    const out = join(work, 'fresh');
    const bad = join(work, 'bad.yaml');
    writeFileSync(bad, 'timeZone: Nowhere\n');
    expect(cli(['synth', '--policy', bad, '--out', out]).code).toBe(1);
    expect(existsSync(out)).toBe(false);
  });
});

describe('schema', () => {
  test('the committed JSON Schema equals what the generator produces', () => {
    expect(readFileSync(join(root, 'backup-policy.schema.json'), 'utf8')).toBe(renderPolicyJsonSchema());
  });

  test('the JSON Schema describes every engine', () => {
    const schema = JSON.parse(renderPolicyJsonSchema());
    const engines = schema.properties.services.additionalProperties.allOf.map((s: any) => s.if.properties.engine.const);
    expect(engines).toEqual(['postgres', 'mysql', 'etcd', 'vault', 'redis', 'sqlite']);
  });
});

test('usage errors exit 2', () => {
  expect(cli(['frobnicate']).code).toBe(2);
  expect(cli(['validate']).code).toBe(2);
});
