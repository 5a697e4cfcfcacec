/**
 * A backup manifest as host-scripts/CONTRACT.md describes it ("Backup manifest"), written beside a
 * copy of one copy in a new backup dir: the restore tests hand-write the counts (from what they
 * seeded), so that a restore is checked against numbers that do not come from its own counting.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeBackupDir } from '../support/run-script';

export interface ManifestFields {
  service: string;
  engine: string;
  kind: 'full' | 'per-database';
  databases: Record<string, { tables: Record<string, number>; largeObjects?: number }>;
  /** Overrides, to make a manifest that does not describe its copy. */
  bytes?: number;
}

/** Copies `copy` (relative to `from`) into a new dir with the manifest beside it; returns the dir. */
export function copyWithManifest(from: string, copy: string, fields: ManifestFields): string {
  const dir = makeBackupDir('manifest');
  fs.mkdirSync(path.join(dir, path.dirname(copy)), { recursive: true });
  fs.copyFileSync(path.join(from, copy), path.join(dir, copy));
  const bytes = fs.readFileSync(path.join(dir, copy));
  const name = path.basename(copy);
  const manifest = {
    format: 1,
    service: fields.service,
    engine: fields.engine,
    kind: fields.kind,
    copy: name,
    createdAt: name.replace(/^dump_(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z.*$/, '$1-$2-$3T$4:$5:$6Z'),
    bytes: fields.bytes ?? bytes.length,
    blake2b: crypto.createHash('blake2b512').update(bytes).digest('hex'),
    databases: fields.databases,
  };
  fs.writeFileSync(path.join(dir, `${copy}.manifest.json`), JSON.stringify(manifest, null, 2));
  return dir;
}
