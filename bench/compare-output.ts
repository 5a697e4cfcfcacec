import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Proof that the variants are comparable: the bare program and the floor must write the same
 * Terraform document as our path, not merely the same number of resources.
 */

export type TerraformDocument = { resource?: Record<string, Record<string, unknown>> } & Record<string, unknown>;

export function readStack(outDir: string, stackId: string): TerraformDocument {
  return JSON.parse(readFileSync(join(outDir, 'stacks', stackId, 'cdk.tf.json'), 'utf8')) as TerraformDocument;
}

/** Resources per Terraform type, e.g. { kubernetes_cron_job_v1: 9, ... }. */
export function resourceCounts(doc: TerraformDocument): Record<string, number> {
  return Object.fromEntries(
    Object.entries(doc.resource ?? {})
      .map(([type, byId]) => [type, Object.keys(byId).length] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

/** The first path at which two JSON values differ (object key order ignored), or undefined. */
export function firstDifference(a: unknown, b: unknown, path = '$'): string | undefined {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${path}: array of ${a.length} vs ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(ra), ...Object.keys(rb)])].sort();
    for (const key of keys) {
      if (!(key in ra)) return `${path}.${key}: missing on the left`;
      if (!(key in rb)) return `${path}.${key}: missing on the right`;
      const d = firstDifference(ra[key], rb[key], `${path}.${key}`);
      if (d) return d;
    }
    return undefined;
  }
  return Object.is(a, b) ? undefined : `${path}: ${JSON.stringify(a)?.slice(0, 80)} vs ${JSON.stringify(b)?.slice(0, 80)}`;
}

/** A resource bare and floor copy as data instead of building it by hand (see passThroughManifests). */
export interface PassThroughManifest {
  /** Construct path below the stack, e.g. ["policy", "alerts", "rules"]. */
  path: string[];
  manifest: unknown;
}

/**
 * The `kubernetes_manifest` resources of a document (today the policy's PrometheusRule). Their
 * content is free-form data that cdktf passes through unchanged, and rendering it is our layers'
 * work; a hand-written program would keep the same rules in a file. So the harness hands bare and
 * floor the rules ours rendered, and both still pay cdktf's (or JSON.stringify's) cost for them.
 */
export function passThroughManifests(doc: TerraformDocument): PassThroughManifest[] {
  return Object.values(doc.resource?.kubernetes_manifest ?? {}).map((r) => {
    const resource = r as { '//': { metadata: { path: string } }; manifest: unknown };
    return { path: resource['//'].metadata.path.split('/').slice(1), manifest: resource.manifest };
  });
}

export function readPassThroughManifests(file: string | undefined): PassThroughManifest[] {
  return file ? (JSON.parse(readFileSync(file, 'utf8')) as PassThroughManifest[]) : [];
}
