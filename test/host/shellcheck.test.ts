import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../support/servers';
import { SCRIPTS_DIR } from '../support/run-script';
import { KUBECTL_FAKE_DIR, LVM_FAKE_DIR } from './host-lab';
import { planPolicy } from '../../policy/plan/plan';
import { HOST_INSTALLER, HOST_LIBRARIES } from '../../policy/plan/host-plan';
import { homelabPolicy } from '../../stacks/homelab-policy';

// The host jobs, their library and installer, and the fakes the tests run them against (a fake
// with a bug of its own could make a broken script pass).
// Derived from the bundled host plan: every script the bundle ships, libraries and installer included.
const host = planPolicy(homelabPolicy).host!;
const jobs = [...host.jobs.map((j) => j.script), host.tracker.script, host.restore.script, HOST_INSTALLER].map((f) => path.join(SCRIPTS_DIR, f));
const scripts = [...jobs, ...HOST_LIBRARIES.map((f) => path.join(SCRIPTS_DIR, f)), path.join(LVM_FAKE_DIR, 'lvm'), path.join(KUBECTL_FAKE_DIR, 'kubectl')];

describe('host scripts', () => {
  test('shellcheck reports nothing, following the sourced libraries (-x)', async () => {
    const r = await run('shellcheck', ['-x', '--severity=style', '--format=gcc', ...scripts], { cwd: SCRIPTS_DIR });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  test('every job starts with the bash shebang and strict mode, and never enables xtrace', () => {
    for (const s of [...jobs, path.join(LVM_FAKE_DIR, 'lvm'), path.join(KUBECTL_FAKE_DIR, 'kubectl')]) {
      const text = fs.readFileSync(s, 'utf8');
      const lines = text.split('\n');
      expect({ s, shebang: lines[0], strict: lines.includes('set -euo pipefail'), xtrace: /^\s*set\s+(-\w*x|-o\s+xtrace)/m.test(text) }).toEqual({
        s,
        shebang: '#!/usr/bin/env bash',
        strict: true,
        xtrace: false,
      });
    }
  });

  test('the LVM fake answers under every name the scripts call', () => {
    for (const tool of ['lvs', 'lvcreate', 'lvremove', 'lvrename', 'lvchange']) {
      expect(fs.readlinkSync(path.join(LVM_FAKE_DIR, tool))).toBe('lvm');
    }
    // And the scripts call LVM tools only inside host-lib.sh's LVM section.
    const calls = (text: string) =>
      text
        .split('\n')
        .filter((l) => !/^\s*#/.test(l))
        .map((l) => l.replace(/'[^']*'|"[^"]*"/g, ''))
        .filter((l) => /(^|[\s;|&(!])(lvs|lvcreate|lvremove|lvrename|lvchange)(\s|$)/.test(l));
    for (const s of jobs) expect({ s, calls: calls(fs.readFileSync(s, 'utf8')) }).toEqual({ s, calls: [] });
    // The check is live: host-lib.sh itself makes the calls.
    expect(calls(fs.readFileSync(path.join(SCRIPTS_DIR, 'host-lib.sh'), 'utf8')).length).toBeGreaterThanOrEqual(5);
  });

  test('the executables are executable', () => {
    for (const s of [...jobs, path.join(LVM_FAKE_DIR, 'lvm'), path.join(KUBECTL_FAKE_DIR, 'kubectl')]) {
      expect({ s, x: (fs.statSync(s).mode & 0o111) !== 0 }).toEqual({ s, x: true });
    }
  });
});
