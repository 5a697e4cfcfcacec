/**
 * The backup manifest functions of backup-lib.sh (CONTRACT.md, "Manifest"), run with the machine's
 * bash and jq: how a manifest is written beside a published copy (and a refused one), what happens
 * when it cannot be written, how retention treats manifests, and the reader used by restores and
 * drills. The engines' counts are tested against real servers in test/integration.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { allFiles, backupEnv, backupTimestamp, makeBackupDir, runLibFunction } from '../support/run-script';

const DAY = 86400;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function dir(label: string): string {
  const d = makeBackupDir(label);
  dirs.push(d);
  return d;
}

/**
 * A job in miniature through the library: init, a work file with CONTENT, stage, SECTIONS into the
 * sections file, commit. `shims` are scripts put first on PATH.
 */
async function job(d: string, content: string, sections: string, opts: { shims?: Record<string, string>; minSizeRatio?: string } = {}) {
  let pathPrepend: string[] = [];
  if (opts.shims) {
    const bin = dir('shims');
    for (const [name, body] of Object.entries(opts.shims)) fs.writeFileSync(path.join(bin, name), body, { mode: 0o755 });
    pathPrepend = [bin];
  }
  const script = `
    backup_init postgres full
    backup_tmpfile "$BACKUP_DIR" "dump_$BACKUP_TS.sql.zst"
    copy=$BACKUP_TMP
    printf '%s' "$CONTENT" >"$copy"
    backup_manifest_stage "$copy"
    printf '%s' "$SECTIONS" >"$BACKUP_MANIFEST_SECTIONS"
    backup_commit "$copy" "$BACKUP_DIR" dump_ .sql.zst`;
  return runLibFunction('eval', [script], {
    env: { ...backupEnv({ service: 'pg', engine: 'postgres', kind: 'full', dir: d, minSizeRatio: opts.minSizeRatio ?? '0' }), CONTENT: content, SECTIONS: sections },
    pathPrepend,
  });
}

const b2 = (s: string | Buffer) => createHash('blake2b512').update(s).digest('hex');

describe('writing', () => {
  it('writes the manifest beside the published copy: common fields, the sections, names of any kind as JSON strings', async () => {
    const d = dir('mf-write');
    const name = "we ird 'db'=\"x\" é\nline";
    const sections = JSON.stringify({ databases: { [name]: { tables: { 'public."t t"': 3 }, largeObjects: 1 } } });
    const r = await job(d, 'copy bytes', sections);
    expect(r.stderr).toContain('finished successfully');
    const [copy, manifest] = allFiles(d).filter((f) => f.startsWith('dump_'));
    expect(manifest).toBe(`${copy}.manifest.json`);
    const m = JSON.parse(fs.readFileSync(path.join(d, manifest), 'utf8'));
    const ts = copy.slice(5, 21);
    expect(m).toEqual({
      format: 1,
      service: 'pg',
      engine: 'postgres',
      kind: 'full',
      copy,
      createdAt: `${ts.slice(0, 4)}-${ts.slice(4, 6)}-${ts.slice(6, 8)}T${ts.slice(9, 11)}:${ts.slice(11, 13)}:${ts.slice(13, 15)}Z`,
      bytes: 10,
      blake2b: b2('copy bytes'),
      databases: { [name]: { tables: { 'public."t t"': 3 }, largeObjects: 1 } },
    });
    // Nothing of the manifest's work is left: no work file on the volume, nothing in TMPDIR.
    expect(allFiles(d).filter((f) => f.includes('.tmp.'))).toEqual([]);
    expect(r.tmpLeftovers).toEqual([]);
  });

  it('fails the run loudly when the manifest cannot be written, and keeps the published copy without one', async () => {
    const d = dir('mf-fail');
    const r = await job(d, 'copy bytes', '{}', { shims: { jq: '#!/bin/sh\necho "jq: simulated failure" >&2\nexit 5\n' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/ERROR: cannot write the manifest of .*dump_\d{8}T\d{6}Z\.sql\.zst \(the copy itself is published and verified\)/);
    const files = allFiles(d).filter((f) => !f.startsWith('.lock'));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^dump_\d{8}T\d{6}Z\.sql\.zst$/);
    expect(fs.readFileSync(path.join(d, files[0]), 'utf8')).toBe('copy bytes');
  });

  it('refuses sections that are not one JSON object, keeping the copy', async () => {
    const d = dir('mf-bad-sections');
    const r = await job(d, 'copy bytes', '[1, 2]');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('cannot write the manifest');
    expect(allFiles(d).filter((f) => f.startsWith('dump_'))).toHaveLength(1);
  });

  it('writes the manifest of a refused copy beside it, named after it, and says how to accept both', async () => {
    const d = dir('mf-rejected');
    const old = `dump_${backupTimestamp(new Date(Date.now() - DAY * 1000))}.sql.zst`;
    fs.writeFileSync(path.join(d, old), 'x'.repeat(1000));
    const r = await job(d, 'tiny', '{}', { minSizeRatio: '0.5' });
    expect(r.code).not.toBe(0);
    const rejected = allFiles(d).find((f) => f.endsWith('.sql.zst.rejected'))!;
    const name = rejected.slice(0, -'.rejected'.length);
    expect(r.stderr).toContain(`rename it to ${name} and ${name}.rejected.manifest.json to ${name}.manifest.json to accept it`);
    expect(allFiles(d).filter((f) => f.endsWith('.manifest.json'))).toEqual([`${rejected}.manifest.json`]);
    const m = JSON.parse(fs.readFileSync(path.join(d, `${rejected}.manifest.json`), 'utf8'));
    expect({ copy: m.copy, bytes: m.bytes, blake2b: m.blake2b }).toEqual({ copy: name, bytes: 4, blake2b: b2('tiny') });
  });
});

describe('retention', () => {
  function dumpName(days: number): string {
    return `dump_${backupTimestamp(new Date(Date.now() - days * DAY * 1000))}.sql.zst`;
  }

  it('deletes a manifest with its copy, and an orphan manifest past the keep window; never a refused copy\'s', async () => {
    const d = dir('mf-retention');
    const [keep, gone, orphanOld, orphanNew, rejected] = [1, 20, 30, 2, 40].map(dumpName);
    for (const f of [keep, gone]) {
      fs.writeFileSync(path.join(d, f), 'copy');
      fs.writeFileSync(path.join(d, `${f}.manifest.json`), '{}');
    }
    fs.writeFileSync(path.join(d, `${orphanOld}.manifest.json`), '{}');
    fs.writeFileSync(path.join(d, `${orphanNew}.manifest.json`), '{}');
    fs.writeFileSync(path.join(d, `${rejected}.rejected`), 'copy');
    fs.writeFileSync(path.join(d, `${rejected}.rejected.manifest.json`), '{}');
    const r = await runLibFunction('backup_retention', [d, 'dump_', '.sql.zst'], {
      env: { BACKUP_KEEP_LAST: '1', BACKUP_KEEP_WITHIN_SECONDS: String(7 * DAY), BACKUP_SERVICE: 'mf', BACKUP_KIND: 'full' },
    });
    expect(r.code).toBe(0);
    expect(allFiles(d).sort()).toEqual(
      [keep, `${keep}.manifest.json`, `${orphanNew}.manifest.json`, `${rejected}.rejected`, `${rejected}.rejected.manifest.json`].sort(),
    );
    expect(r.stderr).toContain(`retention: deleted ${d}/${gone}`);
    expect(r.stderr).toContain(`the manifest of a copy that no longer exists`);
  });
});

describe('backup_manifest_path and backup_manifest_compare', () => {
  const manifest = {
    format: 1,
    service: 's',
    engine: 'postgres',
    kind: 'full',
    copy: 'dump_20250101T000000Z.sql.zst',
    createdAt: '2025-01-01T00:00:00Z',
    bytes: 1,
    blake2b: 'x',
    databases: {
      shop: { tables: { 'public.items': 2, 'public."Odd\nname"': 0 }, largeObjects: 1 },
      empty: { tables: {}, largeObjects: 0 },
    },
    redis: { keys: 3, expires: 1, databases: { '0': 2, '3': 1 } },
  };
  let file: string;
  beforeAll(() => {
    const d = dir('mf-compare');
    file = path.join(d, 'dump_20250101T000000Z.sql.zst.manifest.json');
    fs.writeFileSync(file, JSON.stringify(manifest));
  });
  const compare = (actual: string) => runLibFunction('backup_manifest_compare', [file, actual]);

  it('prints the path and says whether it exists', async () => {
    const copy = file.slice(0, -'.manifest.json'.length);
    expect(await runLibFunction('backup_manifest_path', [copy])).toEqual(expect.objectContaining({ code: 0, stdout: `${file}\n` }));
    expect(await runLibFunction('backup_manifest_path', [`${copy}.other`])).toEqual(expect.objectContaining({ code: 1, stdout: `${copy}.other.manifest.json\n` }));
  });

  it('accepts what the manifest says, as JSON text or a file, comparing only the sections given', async () => {
    expect((await compare(JSON.stringify({ databases: manifest.databases }))).code).toBe(0);
    const actual = path.join(path.dirname(file), 'actual.json');
    fs.writeFileSync(actual, JSON.stringify({ redis: manifest.redis }));
    expect((await compare(actual)).code).toBe(0);
  });

  it('names each mismatch, expected then got: rows, a missing table, an extra database, an empty database gone, large objects, redis keys', async () => {
    const r = await compare(
      JSON.stringify({
        databases: { shop: { tables: { 'public.items': 1, 'public.extra': 5 }, largeObjects: 0 }, other: { tables: {} } },
        redis: { keys: 3, expires: 1, databases: { '0': 3 } },
      }),
    );
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split('\n').sort()).toEqual(
      [
        'database "empty" large objects: expected 0, got missing',
        'database "empty" tables: expected {}, got missing',
        'database "other" tables: expected missing, got {}',
        'database "shop" large objects: expected 1, got 0',
        'database "shop" table "public.\\"Odd\\nname\\"" rows: expected 0, got missing',
        'database "shop" table "public.extra" rows: expected missing, got 5',
        'database "shop" table "public.items" rows: expected 2, got 1',
        'redis db 0 keys: expected 2, got 3',
        'redis db 3 keys: expected 1, got missing',
      ].sort(),
    );
  });

  it('fails with status 2, not a mismatch, when a document cannot be read', async () => {
    expect((await compare('not json')).code).toBe(2);
    expect((await compare('{"nothing": 1}')).code).toBe(2);
    const r = await runLibFunction('backup_manifest_compare', [path.join(path.dirname(file), 'missing.json'), '{"databases": {}}']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot compare');
  });
});
