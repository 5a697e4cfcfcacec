/**
 * What the restore drill tests share: the test policy with drills, the copies' manifests as the
 * backup jobs write them (CONTRACT.md, "Backup manifest"), and a digest of a whole backup volume to
 * prove a drill leaves it untouched.
 *
 * The manifests: written here only for a copy that has none yet, from the source server's counts
 * at the moment of the backup (nothing writes to it in between), in the manifest's format. Once the
 * backup jobs write their own (helper "manifests"), theirs are kept and this writes nothing.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackupPolicyInput } from '../../policy/parse/policy-schema';
import type { Postgres } from '../support/servers';
import { synthStack } from '../support/synth';
import { testCluster, testPolicy, type TestPorts } from './test-policy';
import type { TestCluster } from './cronjob-harness';

export interface DrillQueryInput {
  database?: string;
  sql: string;
  min?: number;
  max?: number;
  equals?: number;
}

/** The test policy with weekly drills of every service, and the given services' queries. */
export function drillPolicy(ports: TestPorts, queries: Record<string, DrillQueryInput[]> = {}): BackupPolicyInput {
  const p = testPolicy(ports) as any;
  p.drills = { schedule: 'weekly on wednesday at 04:30' };
  for (const [service, q] of Object.entries(queries)) p.services[service].drill = { queries: q };
  return p;
}

/** testCluster, with the stack of drillPolicy. */
export function drillCluster(ports: TestPorts, claims: TestCluster['claims'], queries: Record<string, DrillQueryInput[]> = {}): TestCluster {
  return { ...testCluster(ports, claims), stack: synthStack(drillPolicy(ports, queries)) };
}

/** Every file under `dir` (relative name -> BLAKE2b of its bytes, plus its mode and owner). */
export function volumeDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p);
      const meta = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs}`;
      if (e.isDirectory()) {
        out[`${path.relative(dir, p)}/`] = meta;
        walk(p);
      } else {
        out[path.relative(dir, p)] = `${meta} ${createHash('blake2b512').update(fs.readFileSync(p)).digest('hex')}`;
      }
    }
  };
  walk(dir);
  return out;
}

/** `copy` (relative to `dir`) gets a manifest with `sections` unless it has one. */
export function ensureManifest(dir: string, copy: string, meta: { service: string; engine: string; kind: string }, sections: object): void {
  const file = path.join(dir, copy);
  const manifest = `${file}.manifest.json`;
  if (fs.existsSync(manifest)) return;
  const m = /(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(copy)!;
  const body = {
    format: 1,
    ...meta,
    copy: path.basename(copy),
    createdAt: `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`,
    bytes: fs.statSync(file).size,
    blake2b: createHash('blake2b512').update(fs.readFileSync(file)).digest('hex'),
    ...sections,
  };
  fs.writeFileSync(manifest, `${JSON.stringify(body)}\n`, { mode: 0o600 });
  const st = fs.statSync(file);
  fs.chownSync(manifest, st.uid, st.gid);
}

/** Rewrites a manifest through `edit` (a test's deliberate mismatch). */
export function editManifest(dir: string, copy: string, edit: (m: any) => void): void {
  const file = path.join(dir, `${copy}.manifest.json`);
  const m = JSON.parse(fs.readFileSync(file, 'utf8'));
  edit(m);
  fs.writeFileSync(file, `${JSON.stringify(m)}\n`);
}

/** The copies `prefix<ts>suffix` directly in `dir`, oldest first. */
export function copiesIn(dir: string, prefix: string, suffix: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith(suffix) && /\d{8}T\d{6}Z/.test(f))
    .sort();
}

/** A copy of a backup volume for one scenario, owned as the original. */
export function cloneVolume(dir: string): string {
  const clone = fs.mkdtempSync(`${dir}-scenario-`);
  fs.cpSync(dir, clone, { recursive: true, preserveTimestamps: true });
  const chown = (d: string) => {
    const st = fs.statSync(path.join(dir, path.relative(clone, d)));
    fs.chownSync(d, st.uid, st.gid);
    fs.chmodSync(d, st.mode & 0o7777);
    if (fs.statSync(d).isDirectory()) for (const e of fs.readdirSync(d)) chown(path.join(d, e));
  };
  chown(clone);
  return clone;
}

/** Rows per table (quote_ident keys) and large objects of one PostgreSQL database, as the manifest has them. */
export async function pgCounts(pg: Postgres, db: string): Promise<{ tables: Record<string, number>; largeObjects: number }> {
  const out = await pg.psql(
    `select json_build_object('tables', coalesce((select json_object_agg(k, n) from (
        select format('%I.%I', s.nspname, c.relname) as k,
          (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from only %I.%I', s.nspname, c.relname), false, true, '')))[1]::text::bigint as n
        from pg_class c join pg_namespace s on s.oid = c.relnamespace
        where c.relkind = 'r' and c.relpersistence in ('p', 'u')
          and s.nspname not in ('pg_catalog', 'information_schema') and s.nspname !~ '^pg_toast') t), '{}'::json),
      'largeObjects', (select count(*) from pg_largeobject_metadata))`,
    { db },
  );
  return JSON.parse(out);
}
