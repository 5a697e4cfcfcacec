/**
 * The synth output folder is safe to point anywhere: synth replaces only a folder it wrote (the
 * marker), leaves nothing behind when interrupted by a signal (a real child process, killed
 * mid-synth), cleans up after crashed runs only when their process is gone, and the previous
 * output survives every failure.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../policy/io/scripts';
import { OutputFolderError, SYNTH_MARKER, prepareOutDir, synthPolicy, withStaging } from '../../stacks/synth';
import { samplePolicy } from '../support/policies';
import { run, waitUntil } from '../support/servers';

const root = packageRoot();
const dirs: string[] = [];
function tmp(label: string): string {
  const d = fs.mkdtempSync(`/tmp/bp-synth-out-${label}-`);
  dirs.push(d);
  return d;
}
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Every entry under `dir` with its content hash: equal trees are byte-identical. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of (fs.readdirSync(dir, { recursive: true }) as string[]).sort()) {
    const p = path.join(dir, rel);
    out[rel] = fs.statSync(p).isFile() ? createHash('sha256').update(fs.readFileSync(p)).digest('hex') : 'dir';
  }
  return out;
}

const synthSmall = (outDir: string) => synthPolicy({ policy: samplePolicy(), outDir, stackId: 'small' });

/** The CLI as a user runs it. */
function cli(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/backup-policy.js'), ...args], { cwd, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the output folder', () => {
  test('holds the marker, and the next synth replaces it whole (nothing of the old output stays)', () => {
    const out = path.join(tmp('marker'), 'cdktf.out');
    synthSmall(out);
    expect(fs.readdirSync(out).sort()).toEqual([SYNTH_MARKER, 'manifest.json', 'stacks']);
    fs.mkdirSync(path.join(out, 'stacks/removed-stack'));
    synthSmall(out);
    expect(fs.readdirSync(path.join(out, 'stacks'))).toEqual(['small']);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['cdktf.out']);
  });

  test('an existing empty folder is accepted', () => {
    const out = tmp('empty');
    synthSmall(out);
    expect(fs.existsSync(path.join(out, SYNTH_MARKER))).toBe(true);
  });

  test('a folder holding a file of the user is refused, names the folder and what to do, and nothing is removed', () => {
    const work = tmp('user');
    const out = path.join(work, 'deploy');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'policy.yaml'), 'services: {}\n');
    expect(() => synthSmall(out)).toThrow(OutputFolderError);
    expect(() => synthSmall(out)).toThrow(expect.objectContaining({ name: 'OutputFolderError' }));
    expect(() => synthSmall(out)).toThrow(`${out} holds files synth did not write (policy.yaml) and no ${SYNTH_MARKER}`);
    expect(() => synthSmall(out)).toThrow(/pass --out a new folder, or move these files away/);

    const r = cli(['synth', '--out', 'deploy'], work);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${out} holds files synth did not write (policy.yaml)`);
    expect(fs.readdirSync(work)).toEqual(['deploy']);
    expect(fs.readdirSync(out)).toEqual(['policy.yaml']);
    expect(fs.readFileSync(path.join(out, 'policy.yaml'), 'utf8')).toBe('services: {}\n');
  });

  test('--out . (or a folder above the current one) is refused and the user files stay', () => {
    const work = tmp('dot');
    fs.writeFileSync(path.join(work, 'policy.yaml'), 'services: {}\n');
    fs.mkdirSync(path.join(work, 'sub'));
    for (const [out, cwd] of [['.', work], ['..', path.join(work, 'sub')]]) {
      const r = cli(['synth', '--out', out], cwd);
      expect({ out, code: r.code }).toEqual({ out, code: 1 });
      expect(r.stderr).toContain(`${work} is the current folder or one above it`);
    }
    // Even when empty: the swap would move the folder out from under the shell standing in it.
    const empty = tmp('dot-empty');
    expect(cli(['synth', '--out', '.'], empty).code).toBe(1);
    expect(fs.readdirSync(work).sort()).toEqual(['policy.yaml', 'sub']);
    expect(fs.readdirSync(empty)).toEqual([]);
    // The staging folder of a refused synth sits beside the refused folder, and goes too.
    const siblings = (d: string) => fs.readdirSync(path.dirname(d)).filter((n) => n.startsWith(`${path.basename(d)}.`));
    expect([...siblings(work), ...siblings(empty)]).toEqual([]);
  });

  test('an output of a synth older than the marker is replaced when it holds only cdktf\'s files, refused with the command otherwise', () => {
    const out = path.join(tmp('legacy'), 'cdktf.out');
    synthSmall(out);
    fs.rmSync(path.join(out, SYNTH_MARKER));
    // manifest.json and stacks/ only (an older synth's state is moved out first: test/stack/deploy.test.ts).
    expect(() => synthSmall(out)).not.toThrow();
    expect(fs.existsSync(path.join(out, SYNTH_MARKER))).toBe(true);
    fs.rmSync(path.join(out, SYNTH_MARKER));
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    expect(() => synthSmall(out)).toThrow(`then mark it: touch ${path.join(out, SYNTH_MARKER)}`);
    expect(() => synthSmall(out)).toThrow(/a terraform\.\*\.tfstate under stacks\/ is Terraform state: move it out first/);
    expect(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('mine');
  });

  test('a file where the folder should be is refused and kept', () => {
    const out = path.join(tmp('file'), 'cdktf.out');
    fs.writeFileSync(out, 'mine');
    expect(() => synthSmall(out)).toThrow(`${out} exists and is not a folder`);
    expect(fs.readFileSync(out, 'utf8')).toBe('mine');
  });
});

describe('failures and interruptions', () => {
  test('an exception while writing leaves the previous output and no staging folder', () => {
    const dir = tmp('throw');
    const out = path.join(dir, 'cdktf.out');
    synthSmall(out);
    const before = tree(out);
    expect(() =>
      withStaging(out, (staging) => {
        fs.writeFileSync(path.join(staging, 'half.json'), '{');
        throw new Error('provider construct failed');
      }),
    ).toThrow('provider construct failed');
    expect(tree(out)).toEqual(before);
    expect(fs.readdirSync(dir)).toEqual(['cdktf.out']);
  });

  /** A large synth in its own process, into `out`; resolves once its staging folder exists. */
  async function startLargeSynth(out: string): Promise<ChildProcess> {
    const child = spawn(process.execPath, [path.join(root, 'dist/bench/synth-ours.js'), '800', out], { stdio: 'ignore' });
    children.push(child);
    const dir = path.dirname(out);
    await waitUntil(() => fs.readdirSync(dir).some((n) => n.startsWith('cdktf.out.staging-')), 120000, 'the staging folder');
    // Mid-way: cdktf writes manifest.json at the very end of its synth.
    await new Promise((r) => setTimeout(r, 200));
    const staging = path.join(dir, fs.readdirSync(dir).find((n) => n.startsWith('cdktf.out.staging-'))!);
    expect({ running: child.exitCode === null, manifest: fs.existsSync(path.join(staging, 'manifest.json')) }).toEqual({ running: true, manifest: false });
    return child;
  }

  const exited = (child: ChildProcess) => new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));

  test.each(['SIGINT', 'SIGTERM', 'SIGKILL'] as const)('%s mid-synth: the staging folder goes, the previous output stays', async (signal) => {
    const dir = tmp(signal.toLowerCase());
    const out = path.join(dir, 'cdktf.out');
    synthSmall(out);
    const before = tree(out);
    const child = await startLargeSynth(out);
    child.kill(signal);
    await exited(child);
    expect(child.signalCode).toBe(signal);
    await waitUntil(() => fs.readdirSync(dir).length === 1, 10000, 'the guard removing the staging folder');
    expect(fs.readdirSync(dir)).toEqual(['cdktf.out']);
    expect(tree(out)).toEqual(before);
  });

  test('leftovers of a synth killed with its guard are removed by the next synth', async () => {
    const dir = tmp('crash');
    const out = path.join(dir, 'cdktf.out');
    synthSmall(out);
    const child = await startLargeSynth(out);
    const guards = spawnSync('pgrep', ['-f', `synth-guard.sh ${out}.staging-${child.pid}-`], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    expect(guards.length).toBe(1);
    process.kill(Number(guards[0]), 'SIGKILL');
    child.kill('SIGKILL');
    await exited(child);
    await new Promise((r) => setTimeout(r, 300));
    expect(fs.readdirSync(dir).sort()).toEqual(['cdktf.out', expect.stringMatching(new RegExp(`^cdktf\\.out\\.staging-${child.pid}-1$`))]);
    synthSmall(out);
    expect(fs.readdirSync(dir)).toEqual(['cdktf.out']);
  });

  test('stale siblings go only when their process is gone and synth wrote them; a previous output comes back', () => {
    const dir = tmp('stale');
    const out = path.join(dir, 'cdktf.out');
    const gone = spawnSync('true').pid!;
    const alive = process.pid;
    const make = (name: string, files: Record<string, string>) => {
      fs.mkdirSync(path.join(dir, name));
      for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name, f), text);
    };
    make(`cdktf.out.staging-${gone}-3`, { [SYNTH_MARKER]: '' });
    make(`cdktf.out.staging-${gone}`, { 'manifest.json': '{}' }); // the name older synths used
    make(`cdktf.out.staging-${alive}-7`, { [SYNTH_MARKER]: '' });
    make(`cdktf.out.staging-${gone}-4`, { 'notes.txt': 'a user folder that happens to have this name' });
    make(`cdktf.out.previous-${gone}-3`, { [SYNTH_MARKER]: '', 'manifest.json': '{"old":true}' });
    // The crash happened between the two renames: no output, the old one still aside.
    expect(prepareOutDir(out)).toBe(out);
    expect(fs.readdirSync(dir).sort()).toEqual(['cdktf.out', `cdktf.out.staging-${alive}-7`, `cdktf.out.staging-${gone}-4`].sort());
    expect(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).toBe('{"old":true}');
  });
});

test('the synth guard is shellcheck-clean', async () => {
  const r = await run('shellcheck', ['-x', '--severity=style', '--format=gcc', path.join(root, 'stacks/synth-guard.sh')]);
  expect(r.stdout + r.stderr).toBe('');
  expect(r.code).toBe(0);
});
