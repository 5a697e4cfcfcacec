/**
 * backup-lib.sh's public exit-hook and push API, driven through small job scripts written here (the
 * engine scripts and host jobs use the same calls; these cases pin down order and status).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Pushgateway, startPushgateway, waitUntil } from '../support/servers';
import { LIB_PATH, SCRIPTS_DIR, backupEnv, isAlive, makeBackupDir, seriesIn, startScript } from '../support/run-script';

let pgw: Pushgateway;
const dirs: string[] = [];

/** A job script in a fresh backup dir; `script` is relative to host-scripts/, as startScript wants. */
function tempJob(body: string): { dir: string; script: string } {
  const dir = makeBackupDir('lib');
  dirs.push(dir);
  const file = path.join(dir, 'job.sh');
  fs.writeFileSync(file, `#!/usr/bin/env bash\nset -euo pipefail\n. "${LIB_PATH}"\n${body}\n`);
  return { dir, script: path.relative(SCRIPTS_DIR, file) };
}

beforeAll(async () => {
  pgw = await startPushgateway();
}, 30000);

afterAll(async () => {
  await pgw.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('backup_on_exit', () => {
  it('runs the hooks in order with the exit status, after the running step stopped and before cleanup and the push', async () => {
    const { dir, script } = tempJob(`
backup_init postgres full
report() {
  local child=$(<"$BACKUP_DIR/child.pid") work=absent step=running
  if ! kill -0 "$child" 2>/dev/null; then step=stopped; fi
  if [[ -e $(<"$BACKUP_DIR/work.path") ]]; then work=present; fi
  printf '%s status=%s step=%s work=%s\\n' "$2" "$1" "$step" "$work" >>"$BACKUP_DIR/hooks.log"
  backup_log "hook $2 ran"
}
first() { report "$1" first; }
second() { report "$1" second; }
backup_on_exit first
backup_on_exit second
backup_tmpfile "$BACKUP_DIR" dump
printf '%s' "$BACKUP_TMP" >"$BACKUP_DIR/work.path"
backup_run sleep 60
`);
    // The signal interrupts backup_run's wait; its child, the sleep, is the step to stop.
    const running = startScript(script, [], { env: backupEnv({ service: 'hooks', engine: 'postgres', kind: 'full', dir, pushgatewayUrl: pgw.url }) });
    let child = 0;
    await waitUntil(() => {
      const sleeps = fs
        .readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'sleep\u000060\u0000' && fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(' ')[3] === String(running.child.pid);
          } catch {
            return false;
          }
        });
      if (sleeps.length) child = Number(sleeps[0]);
      return child > 0;
    }, 10000, 'the step to start');
    fs.writeFileSync(path.join(dir, 'child.pid'), String(child));
    process.kill(running.child.pid!, 'SIGTERM');
    const r = await running.result;
    expect(r.code).toBe(143);
    expect(fs.readFileSync(path.join(dir, 'hooks.log'), 'utf8')).toBe('first status=143 step=stopped work=present\nsecond status=143 step=stopped work=present\n');
    expect(isAlive(child)).toBe(false);
    // The work file is gone after the hooks, and the push came after them.
    expect(fs.existsSync(fs.readFileSync(path.join(dir, 'work.path'), 'utf8'))).toBe(false);
    const order = ['hook first ran', 'hook second ran', 'pushed metrics', 'FAILED with exit status 143'].map((m) => r.stderr.indexOf(m));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  }, 30000);

  it('passes status 0 after a successful run', async () => {
    const { dir, script } = tempJob(`
backup_init redis snapshot
seen() { printf 'status=%s\\n' "$1" >"$BACKUP_DIR/hook.log"; }
backup_on_exit seen
`);
    const r = await startScript(script, [], { env: backupEnv({ service: 'hooks-ok', engine: 'redis', kind: 'snapshot', dir }) }).result;
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'hook.log'), 'utf8')).toBe('status=0\n');
  });
});

describe('backup_push_series', () => {
  it("pushes another series' common family and extra gauges, with the run's start", async () => {
    const { dir, script } = tempJob(`
backup_init rsync files
printf '%s\\n' "$(backup_start_epoch)" >"$BACKUP_DIR/start"
backup_push_series other-series ssh config 0 1234 backup_extra_things 7
backup_push_series failing-series ssh config 3 0
`);
    const before = Math.floor(Date.now() / 1000);
    const r = await startScript(script, [], { env: backupEnv({ service: 'daily', engine: 'rsync', kind: 'files', dir, runner: 'host', pushgatewayUrl: pgw.url }) }).result;
    expect(r.stderr).toContain('finished successfully');
    const start = Number(fs.readFileSync(path.join(dir, 'start'), 'utf8'));
    expect(start).toBeGreaterThanOrEqual(before - 1);

    const g = await pgw.group('other-series', 'config');
    expect(g.get('backup_last_run_success')?.labels).toMatchObject({ job: 'backup', service: 'other-series', kind: 'config', engine: 'ssh', runner: 'host' });
    expect(g.get('backup_last_run_success')?.value).toBe(1);
    expect(g.get('backup_last_size_bytes')?.value).toBe(1234);
    expect(g.get('backup_last_attempt_timestamp_seconds')?.value).toBe(start);
    expect(g.get('backup_last_success_timestamp_seconds')?.value).toBeGreaterThanOrEqual(start);
    expect(g.get('backup_extra_things')?.value).toBe(7);

    const failing = await pgw.group('failing-series', 'config');
    expect(failing.get('backup_last_run_success')?.value).toBe(0);
    expect(failing.get('backup_last_success_timestamp_seconds')).toBeUndefined();
    // The run's own series is separate and untouched by the extra ones.
    const own = await pgw.group('daily', 'files');
    expect(own.get('backup_last_run_success')?.labels).toMatchObject({ engine: 'rsync' });
    expect(own.get('backup_extra_things')).toBeUndefined();
  });

  it('refuses a label value the Pushgateway cannot take, and pushes nothing for it', async () => {
    const { dir, script } = tempJob(`
backup_init rsync files
if backup_push_series 'bad/name' ssh config 0 1; then echo pushed; else echo refused; fi
`);
    const r = await startScript(script, [], { env: backupEnv({ service: 'daily-bad', engine: 'rsync', kind: 'files', dir, runner: 'host', pushgatewayUrl: pgw.url }) }).result;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('refused\n');
    expect(r.stderr).toContain("'bad/name' cannot be a label value");
  });
});

describe('runs of a kind in the same second', () => {
  it('each get their own copy name, in run order, and every run succeeds', async () => {
    const { dir, script } = tempJob(`
backup_init redis snapshot
backup_tmpfile "$BACKUP_DIR" "dump_$BACKUP_TS.rdb"
printf 'copy of run %s\\n' "$BACKUP_TS" >"$BACKUP_TMP"
backup_commit "$BACKUP_TMP" "$BACKUP_DIR" dump_ .rdb
backup_retention "$BACKUP_DIR" dump_ .rdb
`);
    const runEnv = backupEnv({ service: 'same-second', engine: 'redis', kind: 'snapshot', dir, keepLast: 5 });
    // Start just after a second begins: three runs of a few tens of milliseconds each then share it.
    await new Promise((res) => setTimeout(res, 1000 - (Date.now() % 1000) + 20));
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await startScript(script, [], { env: runEnv }).result);
    expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
    const copies = seriesIn(dir, 'dump_', '.rdb');
    expect(copies).toHaveLength(3);
    // Distinct, one second apart at least, and the glob order is the run order.
    const stamps = copies.map((c) => Date.parse(c.replace(/^dump_(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z\.rdb$/, '$1-$2-$3T$4:$5:$6Z')));
    expect(stamps[1] - stamps[0]).toBeGreaterThanOrEqual(1000);
    expect(stamps[2] - stamps[1]).toBeGreaterThanOrEqual(1000);
    for (const [i, r] of results.entries()) {
      const run = /\(run (\d{8}T\d{6}Z)\)/.exec(r.stderr)?.[1];
      expect(fs.readFileSync(path.join(dir, copies[i]), 'utf8')).toBe(`copy of run ${run}\n`);
    }
  }, 20000);
});
