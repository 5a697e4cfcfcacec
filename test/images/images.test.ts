/**
 * The job images are built two ways from one package list per image: the Dockerfiles (what ships)
 * and images/build-rootfs.sh (what the tests run, test/support/rootfs.ts). These tests fail when the
 * two ways drift apart, and check the built root filesystem against what the job scripts need.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_IMAGE } from '../../policy/engines/engine';
import { run } from '../support/servers';
import { inImage, packageListFiles, readPackageList, requireRootfs } from '../support/rootfs';

const ROOT = path.resolve(__dirname, '..', '..');
const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), 'utf8');

/** A Dockerfile's instructions, continuation lines joined and comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

/** The Debian suite build-rootfs.sh builds from. */
function rootfsSuite(): string {
  const m = /^suite=(\w+)$/m.exec(read('images/build-rootfs.sh'));
  if (!m) throw new Error('images/build-rootfs.sh sets no suite');
  return m[1];
}

/**
 * What a Dockerfile installs: every `apt-get install` must be the one that reads a COPY'd package
 * list through xargs. Returns the list files (in the build context) it installs from.
 */
function installedLists(dockerfile: string): string[] {
  const ins = instructions(read(dockerfile));
  const copied = new Map<string, string>();
  for (const i of ins.filter((x) => x.op === 'COPY')) {
    const parts = i.args.split(/\s+/);
    const dest = parts.pop()!;
    for (const src of parts) copied.set(dest.endsWith('/') ? `${dest}${path.basename(src)}` : dest, src);
  }
  const lists: string[] = [];
  for (const r of ins.filter((x) => x.op === 'RUN')) {
    for (const cmd of r.args.split(/;|&&/).map((c) => c.trim())) {
      if (!/apt-get\s+install/.test(cmd)) continue;
      const m = /^sed -e 's\/#\.\*\/\/' (\S+) \| xargs apt-get install -y --no-install-recommends --$/.exec(cmd);
      if (!m) throw new Error(`${dockerfile}: an install that is not the package list: ${cmd}`);
      const src = copied.get(m[1]);
      if (!src) throw new Error(`${dockerfile}: installs ${m[1]}, which no COPY puts there`);
      lists.push(path.join(path.dirname(dockerfile), src));
    }
  }
  return lists;
}

describe('one package list per image, for the Dockerfile and the tests', () => {
  it('backup-tools: the Dockerfile installs exactly the list the test rootfs is built from, on the same Debian', () => {
    const listFiles = packageListFiles('backup-tools').map((f) => path.relative(ROOT, f));
    expect(installedLists('images/backup-tools/Dockerfile')).toEqual(listFiles);
    const ins = instructions(read('images/backup-tools/Dockerfile'));
    expect(ins.filter((i) => i.op === 'FROM')).toEqual([{ op: 'FROM', args: `debian:${rootfsSuite()}-slim` }]);
    // The same configuration step as the rootfs (user 10001), and that user at run time.
    expect(ins.some((i) => i.op === 'RUN' && i.args.includes('sh /tmp/image/configure-rootfs.sh'))).toBe(true);
    expect(read('images/build-rootfs.sh')).toContain('configure-rootfs.sh');
    expect(ins.filter((i) => i.op === 'USER').map((i) => i.args)).toEqual(['10001']);
  });

  it('backup-drill: built on backup-tools plus its own list, as the test rootfs is', () => {
    const [tools, drill] = packageListFiles('backup-drill').map((f) => path.relative(ROOT, f));
    expect(tools).toBe('images/backup-tools/packages.txt');
    expect(installedLists('images/backup-drill/Dockerfile')).toEqual([drill]);
    const ins = instructions(read('images/backup-drill/Dockerfile'));
    expect(ins.find((i) => i.op === 'FROM')?.args).toBe('${TOOLS_IMAGE}');
    expect(ins.find((i) => i.op === 'ARG')?.args).toBe(`TOOLS_IMAGE=${DEFAULT_IMAGE}`);
    expect(ins.some((i) => i.op === 'RUN' && i.args.includes('sh /tmp/image/configure-rootfs.sh'))).toBe(true);
    expect(ins.filter((i) => i.op === 'USER').map((i) => i.args)).toEqual(['root', '10001']);
  });

  it('backup-drill ships no default database cluster and no apt lists', () => {
    const root = requireRootfs('backup-drill');
    expect(fs.readdirSync(path.join(root, 'var/lib/mysql'))).toEqual([]);
    expect(fs.existsSync(path.join(root, 'var/lib/postgresql/17/main'))).toBe(false);
    expect(fs.existsSync(path.join(root, 'usr/lib/postgresql/17/bin/postgres'))).toBe(true);
  });

  it('fails the check when a Dockerfile installs a package outside the list', () => {
    const tmp = fs.mkdtempSync(path.join(ROOT, 'images', '.test-'));
    try {
      const bad = read('images/backup-tools/Dockerfile').replace('rm -rf /tmp/image', 'apt-get install -y vault; rm -rf /tmp/image');
      fs.writeFileSync(path.join(tmp, 'Dockerfile'), bad);
      expect(() => installedLists(path.relative(ROOT, path.join(tmp, 'Dockerfile')))).toThrow(/an install that is not the package list: apt-get install -y vault/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('lists only Debian package names, no third-party repositories or version pins', () => {
    for (const f of [...packageListFiles('backup-drill')]) {
      for (const name of readPackageList(f)) expect({ f, name, ok: /^[a-z0-9][a-z0-9+.-]+$/.test(name) }).toEqual({ f, name, ok: true });
    }
    for (const d of ['images/backup-tools/Dockerfile', 'images/backup-drill/Dockerfile']) {
      expect(read(d)).not.toMatch(/sources\.list|curl|gpg|apt\.postgresql\.org|hashicorp/);
    }
  });
});

describe('the built backup-tools root filesystem', () => {
  // Every command the job scripts run; each name must still occur in a script, so the list
  // cannot keep a tool nobody calls or hide one that was renamed.
  const TOOLS = ['bash', 'curl', 'gzip', 'tar', 'zstd', 'sha256sum', 'flock', 'timeout', 'awk', 'mktemp', 'stat', 'sync', 'pg_dump', 'pg_dumpall', 'pg_restore', 'psql',
    'mariadb', 'mariadb-dump', 'redis-cli', 'redis-check-rdb', 'etcdctl', 'sqlite3', 'setpriv'];

  it('has every command the job scripts call, on the image\'s PATH', async () => {
    const scripts = fs.readdirSync(path.join(ROOT, 'host-scripts')).filter((f) => f.endsWith('.sh')).map((f) => read(`host-scripts/${f}`)).join('\n');
    for (const t of TOOLS.filter((x) => x !== 'setpriv' && x !== 'bash')) expect({ t, used: new RegExp(`(^|[\\s(|$])${t.replace(/[-.]/g, '\\$&')}\\b`, 'm').test(scripts) }).toEqual({ t, used: true });
    const r = await run(...inImage('backup-tools', ['bash', '-c', 'for t in "$@"; do command -v "$t" >/dev/null || echo "missing $t"; done', 'bash', ...TOOLS]));
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('');
  });

  it('carries clients at least as new as every server version the tests run (pg_dump refuses newer servers)', async () => {
    const r = await run(...inImage('backup-tools', ['bash', '-c', 'pg_dump --version; mariadb-dump --version; redis-cli --version; etcdctl version']));
    expect(r.stdout).toMatch(/pg_dump \(PostgreSQL\) 17\./);
    expect(r.stdout).toMatch(/from 11\.8\.\d+-MariaDB/);
    expect(r.stdout).toMatch(/redis-cli 8\./);
    expect(r.stdout).toMatch(/etcdctl version: 3\.5\./);
  });

  it('has the jobs\' user 10001 in its passwd and nothing of the package caches', () => {
    const root = requireRootfs('backup-tools');
    expect(fs.readFileSync(path.join(root, 'etc/passwd'), 'utf8')).toContain('backup-job:x:10001:10001::/nonexistent:/usr/sbin/nologin');
    expect(fs.readdirSync(path.join(root, 'var/lib/apt/lists')).filter((f) => f !== 'partial' && f !== 'lock')).toEqual([]);
  });

  it('is read-only to whatever runs in it', async () => {
    const r = await run(...inImage('backup-tools', ['bash', '-c', 'touch /usr/bin/x 2>&1 || true']));
    expect(r.stdout).toContain('Read-only file system');
  });
});

describe('publishing', () => {
  const workflow = parseYaml(read('.github/workflows/image.yml'));
  const steps: any[] = workflow.jobs.publish.steps;

  it('builds amd64 and arm64 on a version tag and pushes both images to GHCR under the owner', () => {
    expect(workflow.on).toEqual({ push: { tags: ['v*'] } });
    const builds = steps.filter((s) => String(s.uses).startsWith('docker/build-push-action@'));
    expect(builds.map((s) => s.with.context)).toEqual(['images/backup-tools', 'images/backup-drill']);
    for (const b of builds) {
      expect(b.with.platforms).toBe('linux/amd64,linux/arm64');
      expect(b.with.push).toBe(true);
    }
    const names = steps.find((s) => s.id === 'names');
    expect(names.env.OWNER).toBe('${{ github.repository_owner }}');
    expect(names.run).toContain('ghcr.io/$registry_owner/backup-tools');
    expect(workflow.jobs.publish.permissions).toEqual({ contents: 'read', packages: 'write' });
    expect(steps.find((s) => s.name === 'Digests').run).toContain('$TOOLS@$TOOLS_DIGEST');
  });

  it('pins every action by a full commit SHA with the release in a comment', () => {
    const lines = read('.github/workflows/image.yml').split('\n').filter((l) => /^\s*-?\s*uses:/.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(5);
    for (const l of lines) expect(l).toMatch(/uses: [\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
  });

  it('the policy\'s default image is the backup-tools a version tag publishes, pinned by version', async () => {
    const m = /^ghcr\.io\/[a-z0-9-]+\/backup-tools:(\d+\.\d+\.\d+)$/.exec(DEFAULT_IMAGE);
    expect(m).not.toBeNull();
    // The workflow's own step, run as the runner would, for the matching tag and for another one.
    const script = steps.find((s) => s.id === 'names').run as string;
    const out = path.join(fs.mkdtempSync('/tmp/bp-img-'), 'output');
    try {
      // GitHub's shell for `run:` steps.
      const names = (tag: string) => run('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], { cwd: ROOT, env: { PATH: process.env.PATH, OWNER: 'Backup-Policy', TAG: tag, GITHUB_OUTPUT: out } });
      const good = await names(`v${m![1]}`);
      expect(good.stdout + good.stderr).toBe('');
      expect(fs.readFileSync(out, 'utf8')).toBe(`version=${m![1]}\ntools=ghcr.io/backup-policy/backup-tools\ndrill=ghcr.io/backup-policy/backup-drill\n`);
      const stale = await names('v99.0.0');
      expect(stale.code).not.toBe(0);
      expect(stale.stdout).toContain('DEFAULT_IMAGE does not name backup-tools:99.0.0');
    } finally {
      fs.rmSync(path.dirname(out), { recursive: true, force: true });
    }
  });
});

describe('the image scripts', () => {
  it('are shellcheck-clean', async () => {
    const files = ['images/build-rootfs.sh', 'images/backup-tools/configure-rootfs.sh', 'images/backup-drill/configure-rootfs.sh', 'test/support/in-rootfs.sh'].map((f) => path.join(ROOT, f));
    const r = await run('shellcheck', ['-x', '--severity=style', '--format=gcc', ...files]);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
