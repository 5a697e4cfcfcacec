/**
 * Backup manifests (host-scripts/CONTRACT.md, "Manifest") in the integration tests: read one beside
 * a copy and check its common fields against the copy itself, count what a server holds in the
 * manifest's shape, and compare through the library's own reader (backup_manifest_compare).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Mariadb, Postgres } from '../support/servers';
import { runLibFunction } from '../support/run-script';

export interface DatabaseCounts {
  tables: Record<string, number>;
  largeObjects?: number;
}

/**
 * The manifest of `copy`, after checking what every manifest must say about its copy: format 1,
 * the job's labels, the copy's name, size and BLAKE2b, and the timestamp of its name.
 */
export function readManifest(copy: string, labels: { service: string; engine: string; kind: string }): any {
  const file = `${copy}.manifest.json`;
  expect({ manifest: path.basename(file), exists: fs.existsSync(file) }).toEqual({ manifest: path.basename(file), exists: true });
  const m = JSON.parse(fs.readFileSync(file, 'utf8'));
  const ts = /_(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z\./.exec(path.basename(copy))!;
  expect({
    format: m.format,
    service: m.service,
    engine: m.engine,
    kind: m.kind,
    copy: m.copy,
    createdAt: m.createdAt,
    bytes: m.bytes,
    blake2b: m.blake2b,
  }).toEqual({
    format: 1,
    ...labels,
    copy: path.basename(copy),
    createdAt: `${ts[1]}-${ts[2]}-${ts[3]}T${ts[4]}:${ts[5]}:${ts[6]}Z`,
    bytes: fs.statSync(copy).size,
    blake2b: createHash('blake2b512').update(fs.readFileSync(copy)).digest('hex'),
  });
  return m;
}

/**
 * Rows per table as a PostgreSQL restore of `db` holds them, keyed like the manifest
 * (quote_ident(schema).quote_ident(table)): the tables pg_dump dumps data for (ordinary tables and
 * leaf partitions outside the system schemas, not an extension's), and the large objects.
 */
export async function pgCounts(pg: Postgres, db: string): Promise<DatabaseCounts> {
  const out = await pg.psql(
    `select json_build_object('tables', coalesce(json_object_agg(k, n), '{}'), 'largeObjects', (select count(*) from pg_largeobject_metadata))
     from (select format('%I.%I', ns.nspname, c.relname) as k,
                  (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from only %I.%I', ns.nspname, c.relname), false, true, '')))[1]::text::bigint as n
           from pg_class c join pg_namespace ns on ns.oid = c.relnamespace
           where c.relkind = 'r' and ns.nspname not in ('pg_catalog', 'information_schema') and ns.nspname not like 'pg\\_toast%'
             and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')) t`,
    { db },
  );
  return JSON.parse(out);
}

/** Rows per base table of a MariaDB database, keyed by the table name as-is. */
export async function myCounts(m: Mariadb, db: string): Promise<DatabaseCounts> {
  const hex = Buffer.from(db, 'utf8').toString('hex');
  const names = (await m.sql(`SELECT HEX(TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = X'${hex}' AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1`))
    .split('\n')
    .filter((l) => l.length > 0)
    .map((h) => Buffer.from(h, 'hex').toString('utf8'));
  const tables: Record<string, number> = {};
  const q = (s: string) => '`' + s.replace(/`/g, '``') + '`';
  for (const t of names) tables[t] = Number((await m.sql(`SELECT COUNT(*) FROM ${q(db)}.${q(t)}`)).trim());
  return { tables };
}

/** backup_manifest_compare MANIFEST ACTUAL_JSON, as restore scripts and drills call it. */
export async function manifestCompare(manifest: string, actual: object): Promise<{ code: number | null; mismatches: string[] }> {
  const r = await runLibFunction('backup_manifest_compare', [manifest, JSON.stringify(actual)]);
  return { code: r.code, mismatches: r.stdout.split('\n').filter((l) => l.length > 0) };
}
