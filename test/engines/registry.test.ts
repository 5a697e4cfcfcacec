import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ENGINE_MODULES, engineScripts } from '../../policy/engines/registry';
import type { EngineModule } from '../../policy/engines/engine';
import { parseService } from '../../policy/parse/parse';
import { planPolicy } from '../../policy/plan/plan';
import { packageRoot, scriptsDir } from '../../policy/io/scripts';

/**
 * What every engine module must satisfy. A new engine passes these without any edit here: they
 * iterate the registry, so an engine that forgets its script, its CONTRACT.md row or a variable it
 * renders fails here, not in production.
 */
const root = packageRoot();
const modules = ENGINE_MODULES as unknown as EngineModule[];
const contract = readFileSync(join(scriptsDir(), 'CONTRACT.md'), 'utf8');

function policyWith(id: string, service: Record<string, unknown>) {
  return { timeZone: 'UTC', nfs: { server: '192.168.1.127' }, pushgateway: { url: 'http://pushgateway.monitoring.svc:9091' }, services: { [id]: service } };
}

describe.each(modules.map((m) => [m.engine, m] as const))('engine %s', (engine, module) => {
  const plan = planPolicy(policyWith('svc', module.example));
  const service = plan.services[0];

  test('its example parses and plans into at least one job', () => {
    expect(() => parseService('svc', module.example)).not.toThrow();
    expect(service.engine).toBe(engine);
    expect(service.jobs.length).toBeGreaterThan(0);
  });

  test('every script it ships exists in host-scripts/', () => {
    const missing = service.scripts.files.filter((f) => !existsSync(join(scriptsDir(), f)));
    expect(missing).toEqual([]);
    for (const job of service.jobs) expect(service.scripts.files).toContain(job.command[1].split('/').pop());
  });

  test('its CONTRACT.md row is the module\'s contract', () => {
    expect(contract).toContain(`| ${engine} | ${module.contract.variables} | ${module.contract.secretBacked} |`);
  });

  test('every variable it renders is documented in CONTRACT.md', () => {
    const row = contract.split('\n').find((l) => l.startsWith(`| ${engine} |`)) ?? '';
    const common = contract.slice(contract.indexOf('## Common'), contract.indexOf('## Per engine'));
    const undocumented = [...new Set(service.jobs.flatMap((j) => j.env.map((e) => e.name)))].filter((name) => !row.includes(`\`${name}`) && !common.includes(`\`${name}\``));
    expect(undocumented).toEqual([]);
  });

  test('secrets reach the job only as Secret references', () => {
    for (const job of service.jobs) {
      for (const env of job.env) if (/PASSWORD|TOKEN|AUTH/.test(env.name)) expect({ name: env.name, secret: env.secret !== undefined }).toEqual({ name: env.name, secret: true });
    }
  });

  test('it names a restore procedure and a typical restore time', () => {
    expect(service.restoreSteps.join('\n')).toContain(service.volume.path);
    expect(module.typicalRestoreTime.totalSeconds).toBeGreaterThan(0);
  });
});

test('the shipped script list is derived from the registry and covers every engine', () => {
  const scripts = engineScripts();
  expect(scripts[0]).toBe('backup-lib.sh');
  for (const module of modules) {
    const planned = planPolicy(policyWith('svc', module.example)).services[0];
    for (const file of planned.scripts.files) expect(scripts).toContain(file);
  }
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

const code = ['policy', 'constructs', 'stacks', 'cli'].flatMap((d) => sourceFiles(join(root, d))).map((f) => ({ file: relative(root, f), text: readFileSync(f, 'utf8') }));

test('nothing outside an engine module switches on the engine', () => {
  const names = modules.map((m) => m.engine).join('|');
  const pattern = new RegExp(`case '(${names})'|engine === '(${names})'|engine !== '(${names})'`);
  const offenders = code.filter((c) => !c.file.startsWith('policy/engines/') && pattern.test(c.text)).map((c) => c.file);
  expect(offenders).toEqual([]);
  // The pattern is live.
  expect(pattern.test("if (service.engine === 'sqlite')")).toBe(true);
});

test('policy text is parsed only at the boundary: no Schedule.parse/Duration.parse after it, no declaration read back', () => {
  const reparse = code.filter((c) => !c.file.startsWith('policy/values/') && !c.file.startsWith('policy/schema/') && /\b(Schedule|Duration)\.(parse|tryParse)\(/.test(c.text)).map((c) => c.file);
  expect(reparse).toEqual([]);
  const declaration = code.filter((c) => /\.declaration\b/.test(c.text)).map((c) => c.file);
  expect(declaration).toEqual([]);
});

test('the dump engines render which databases are left out and how long a dropped one is kept', () => {
  for (const engine of ['postgres', 'mysql']) {
    const module = modules.find((m) => m.engine === engine)!;
    const plan = planPolicy(policyWith('db', { ...module.example, excludeDatabases: ["it's db", 'café', 'a=b'], keepDroppedFor: '30d' }));
    const env = Object.fromEntries(plan.services[0].jobs[0].env.map((e) => [e.name, e.value]));
    expect([env.BACKUP_EXCLUDE_DATABASES, env.BACKUP_DROPPED_KEEP_SECONDS]).toEqual(["it's db\ncafé\na=b", '2592000']);
    const plain = Object.fromEntries(planPolicy(policyWith('db', module.example)).services[0].jobs[0].env.map((e) => [e.name, e.value]));
    expect([plain.BACKUP_EXCLUDE_DATABASES, plain.BACKUP_DROPPED_KEEP_SECONDS]).toEqual([undefined, undefined]);
  }
  expect(() => parseService('db', { ...modules[0].example, excludeDatabases: ['bad\nname'] })).toThrow(/excludeDatabases\[0\]: not a database name/);
});
