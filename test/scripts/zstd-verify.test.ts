/**
 * The single-pass verification of the dump jobs (backup-lib.sh): backup_zstd_write records the
 * BLAKE2b digest of the bytes it writes (in TMPDIR); backup_verify_zstd reads the target back
 * once and from that one read checks the digest, the zstd frame (with its content checksum) and
 * the dump's own marker.
 * Real zstd, tee and b2sum on real files; the damage is done to the file between the two steps,
 * as a faulty disk, NFS server or a concurrent writer would.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LIB_PATH } from '../support/run-script';
import { run } from '../support/servers';

const TRAILER = '-- PostgreSQL database cluster dump complete';
let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync('/tmp/bp-verify-');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `script` in bash with the library sourced under `set -euo pipefail`, as the job scripts do. */
function lib(script: string, args: string[] = []) {
  return run('bash', ['-c', `set -euo pipefail; . "$LIB"; ${script}`, 'bash', ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TMPDIR: dir, LIB: LIB_PATH, BACKUP_SERVICE: 'verify-test', BACKUP_KIND: 'full' },
  });
}

/** A dump-like text of about 3 MB ending with `last`. */
function dumpText(last = TRAILER): string {
  const lines: string[] = [];
  for (let i = 0; i < 60000; i++) lines.push(`INSERT INTO notes VALUES (${i}, 'row ${i} ${(i * 7919) % 10007} Grüße');`);
  return `${lines.join('\n')}\n--\n${last}\n--\n`;
}

/** Writes `text` through backup_zstd_write; returns the copy and its digest file. */
async function write(text: string): Promise<{ copy: string; digest: string }> {
  const src = path.join(dir, 'dump.sql');
  fs.writeFileSync(src, text);
  const copy = path.join(dir, 'copy.sql.zst');
  const r = await lib('backup_zstd_write "$1" <"$2"', [copy, src]);
  expect(r.code).toBe(0);
  return { copy, digest: path.join(dir, '.digest.copy.sql.zst') };
}

function verify(copy: string, checker = `backup_expect_trailer '${TRAILER}'`) {
  return lib(`backup_verify_zstd "$1" ${checker}`, [copy]);
}

describe('backup_zstd_write + backup_verify_zstd', () => {
  it('accepts a good copy, reading the target exactly once', async () => {
    const { copy, digest } = await write(dumpText());
    expect(execFileSync('zstd', ['-dcq', copy], { maxBuffer: 1 << 26 }).toString()).toBe(dumpText());
    expect(fs.readFileSync(digest, 'utf8')).toMatch(/^[0-9a-f]{128} {2}-\n$/);
    fs.copyFileSync(digest, `${digest}.kept`);
    expect((await verify(copy)).code).toBe(0);
    // Consumed: the digest must not be published beside the copy.
    expect(fs.existsSync(digest)).toBe(false);
    fs.renameSync(`${digest}.kept`, digest);

    // The target as a FIFO fed once: a second read (a separate `zstd -t`, a second decompression)
    // would open it again and wait for a writer that never comes.
    const fifo = path.join(dir, 'once.zst');
    execFileSync('mkfifo', [fifo]);
    fs.copyFileSync(digest, path.join(dir, '.digest.once.zst'));
    const feeder = run('bash', ['-c', 'cat "$1" >"$2"', 'bash', copy, fifo]);
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([verify(fifo), new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), 15000)))]);
    clearTimeout(timer);
    expect(r).not.toBe('timeout');
    expect(r === 'timeout' ? -1 : r.code).toBe(0);
    expect((await feeder).code).toBe(0);
  });

  it.each([
    ['the frame header', 4],
    ['the middle of the data', 0.5],
    ['the content checksum at the end', -2],
  ])('rejects one changed byte in %s', async (_where, at) => {
    const { copy } = await write(dumpText());
    const bytes = fs.readFileSync(copy);
    const i = at >= 1 ? at : at < 0 ? bytes.length + at : Math.floor(bytes.length * at);
    bytes[i] ^= 0x20;
    fs.writeFileSync(copy, bytes);
    const r = await verify(copy);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/copy\.sql\.zst (does not decode into a complete dump|read back differs)/);
  });

  it.each([0.1, 0.5, 0.99])('rejects a copy cut at %s of its length', async (fraction) => {
    const { copy } = await write(dumpText());
    fs.truncateSync(copy, Math.floor(fs.statSync(copy).size * fraction));
    const r = await verify(copy);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/does not decode into a complete dump/);
  });

  it('rejects bytes that decode to the same complete dump but are not the bytes written', async () => {
    // Only the digest of the read-back can tell: zstd and the trailer are both satisfied.
    const { copy } = await write(dumpText());
    const other = execFileSync('zstd', ['-q', '-1', '-c'], { input: dumpText(), maxBuffer: 1 << 26 });
    fs.writeFileSync(copy, other);
    expect(execFileSync('zstd', ['-dcq', copy], { maxBuffer: 1 << 26 }).toString()).toBe(dumpText());
    const r = await verify(copy);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/read back differs from what was written \(BLAKE2b [0-9a-f]{16}\.\.\. != [0-9a-f]{16}\.\.\.\)/);
  });

  it('rejects a dump that ended without its completion marker', async () => {
    const { copy } = await write(dumpText('-- the dump stopped here'));
    const r = await verify(copy);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`does not end with '${TRAILER}'`);
  });

  it.each([
    ['is empty', (d: string) => fs.writeFileSync(d, '')],
    ['is missing', (d: string) => fs.rmSync(d)],
  ])('rejects a copy whose digest %s', async (_what, damage) => {
    const { copy, digest } = await write(dumpText());
    damage(digest);
    const r = await verify(copy);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('no digest was recorded');
  });

  it('removes the digest with the work file when a run discards it before verifying', async () => {
    const out = path.join(dir, 'volume');
    fs.mkdirSync(out);
    const r = await lib(
      'backup_tmpfile "$1" dump.sql.zst; a=$BACKUP_TMP; printf one | backup_zstd_write "$a"; ' +
        'backup_tmpfile "$1" other.sql.zst; b=$BACKUP_TMP; printf two | backup_zstd_write "$b"; ' +
        'ls -A "$1" "$TMPDIR" | grep -c digest; echo --; backup_discard "$a"; ls -A "$1" "$TMPDIR"; echo --; backup__discard_all; ls -A "$1" "$TMPDIR"',
      [out],
    );
    expect(r.code).toBe(0);
    const [written, afterOne, afterAll] = r.stdout.split('--\n');
    // Nothing but the work files on the backup volume; the digests in TMPDIR.
    expect(written.trim()).toBe('2');
    expect(afterOne).toMatch(/\.tmp\.(\S+\.)?other\.sql\.zst\.\w+\n/);
    expect(afterOne).not.toMatch(/dump\.sql\.zst/);
    expect(afterOne.match(/\.digest\./g)).toHaveLength(1);
    expect(afterAll).not.toMatch(/\.tmp\.|\.digest\./);
  });

  it('passes a checker that reads only the start when it drains the rest, and fails it otherwise', async () => {
    const { copy } = await write(dumpText());
    expect((await verify(copy, 'backup_drain head -c 100')).code).toBe(0);
    // Without draining, zstd dies of SIGPIPE: a good copy must not be failed that way silently,
    // and backup_drain is what the pg_restore --list check relies on.
    expect((await verify(copy, 'head -c 100')).code).not.toBe(0);
  });

  it('fails the write when the target cannot be written', async () => {
    const target = path.join(dir, 'not-a-file');
    fs.mkdirSync(target);
    const r = await lib('printf "data" | backup_zstd_write "$1"', [target]);
    expect(r.code).not.toBe(0);
  });
});
