import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../support/servers';
import { SCRIPTS_DIR } from '../support/run-script';
import { engineScripts } from '../../policy/engines/registry';

// Every job script (the image's own scripts are checked in test/images/images.test.ts).
const scripts = fs
  .readdirSync(SCRIPTS_DIR)
  .filter((f) => f.endsWith('.sh'))
  .map((f) => path.join(SCRIPTS_DIR, f));

describe('shellcheck', () => {
  it('covers every script a CronJob ships (derived from the engine registry)', () => {
    const names = scripts.map((s) => path.basename(s));
    expect(engineScripts().filter((f) => !names.includes(f))).toEqual([]);
  });

  it('reports nothing, following the sourced library (-x)', async () => {
    // Run from the scripts' directory so that `source-path=SCRIPTDIR` is what resolves backup-lib.sh.
    const r = await run('shellcheck', ['-x', '--severity=style', '--format=gcc', ...scripts], { cwd: SCRIPTS_DIR });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
    // One shellcheck over every script, each following backup-lib.sh: about a minute of CPU with the
    // drill scripts, more than the default timeout on a loaded machine.
  }, 300000);

  it('finds the problems it is supposed to find (the check is live)', async () => {
    const bad = path.join(fs.mkdtempSync('/tmp/bp-sc-'), 'bad.sh');
    fs.writeFileSync(bad, '#!/usr/bin/env bash\nrm -rf $1/data\n');
    const r = await run('shellcheck', ['--format=gcc', bad]);
    fs.rmSync(path.dirname(bad), { recursive: true, force: true });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toContain('SC2086');
  });

  it('uses no backup-lib internals (backup__* / BACKUP__* names) outside backup-lib.sh', () => {
    const internal = /\b(backup__\w+|BACKUP__\w+)/g;
    const shellFiles = fs
      .readdirSync(SCRIPTS_DIR)
      .filter((f) => f.endsWith('.sh'))
      .map((f) => path.join(SCRIPTS_DIR, f));
    const uses = shellFiles
      .filter((s) => path.basename(s) !== 'backup-lib.sh')
      .flatMap((s) => (fs.readFileSync(s, 'utf8').match(internal) ?? []).map((name) => `${path.basename(s)}: ${name}`));
    expect(uses).toEqual([]);
    // The check is live: the library itself is made of such names.
    expect(fs.readFileSync(path.join(SCRIPTS_DIR, 'backup-lib.sh'), 'utf8').match(internal)?.length).toBeGreaterThan(20);
  });

  it('ships the SQLite helpers only in sqlite-lib.sh, sourced only by the scripts that need them', () => {
    const sourcing = fs
      .readdirSync(SCRIPTS_DIR)
      .filter((f) => f.endsWith('.sh') && /^\. .*\/sqlite-lib\.sh"$/m.test(fs.readFileSync(path.join(SCRIPTS_DIR, f), 'utf8')))
      .sort();
    expect(sourcing).toEqual(['daily-backup.sh', 'host-restore.sh', 'sqlite-backup.sh', 'sqlite-integrity-check.sh', 'sqlite-restore.sh']);
    expect(fs.readFileSync(path.join(SCRIPTS_DIR, 'backup-lib.sh'), 'utf8')).not.toMatch(/backup_sqlite_/);
  });

  it('keeps test doubles out of the shipped folder, except the vault fake', () => {
    const dirs = fs.readdirSync(SCRIPTS_DIR, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(dirs.filter((d) => d !== 'vault-fake')).toEqual([]);
  });

  it('never enables xtrace, which would print secrets', () => {
    for (const s of scripts) {
      const text = fs.readFileSync(s, 'utf8');
      expect({ script: s, xtrace: /^\s*set\s+(-\w*x|-o\s+xtrace)/m.test(text) }).toEqual({ script: s, xtrace: false });
    }
  });

  it('starts every job script with the bash shebang and strict mode', () => {
    for (const s of scripts.filter((f) => f.endsWith('-backup.sh') || f.endsWith('-check.sh'))) {
      const lines = fs.readFileSync(s, 'utf8').split('\n');
      expect({ script: s, shebang: lines[0] }).toEqual({ script: s, shebang: '#!/usr/bin/env bash' });
      expect({ script: s, strict: lines.includes('set -euo pipefail') }).toEqual({ script: s, strict: true });
    }
  });
});
