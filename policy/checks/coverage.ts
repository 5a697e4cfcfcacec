import type { BackupPlan, CoverageExclusion } from '../plan/plan';
import { LAYER_TITLES, type Layer } from '../plan/protection';

/** A PersistentVolumeClaim as `kubectl get pvc -A -o json` lists it (only the fields read here). */
interface Pvc {
  metadata?: { name?: unknown; namespace?: unknown };
  spec?: { storageClassName?: unknown };
}

/** One layer covering one PVC, and why it does. */
export interface Cover {
  layer: Layer | 'backup-volume';
  /** Which copy of the layer, when the layer alone does not say ("postgresql", "file backup"). */
  by?: string;
  why: string;
}

export interface CoverageRow {
  /** namespace/name */
  pvc: string;
  storageClass: string;
  covers: Cover[];
  /** The exclusion naming it, when one does. */
  excludedBy?: { rule: string; reason: string };
  /** Why a layer one might expect does not reach it ("namespace dbaas is not snapshotted"). */
  notes: string[];
  /** Nothing covers it and no exclusion names it: `lint` fails. */
  gap: boolean;
}

export interface CoverageReport {
  rows: CoverageRow[];
  /** Exclusions that name no PVC of the cluster: stale, or a typo hiding nothing (yet). */
  unusedExclusions: string[];
}

export interface StorageClasses {
  /** Proxmox CSI classes: PVCs are thin LVs in the snapshotted pool. */
  lvm: string[];
  /** Classes provisioned under an NFS tree that the offsite sync mirrors. */
  nfs: string[];
}

function exclusionRule(e: CoverageExclusion): string {
  return e.claim ? `coverage.exclude ${e.namespace}/${e.claim}` : `coverage.exclude ${e.namespace} (namespace)`;
}

/**
 * Which layer covers each PVC of a cluster, and why; PVCs are matched by name only to what the
 * policy declares, never guessed from a namespace:
 * - an app-level dump covers the claims its service names as its data (`dataClaims`, SQLite's
 *   `data.claimName`), with or without a host section; its offsite copy follows when the backup
 *   directory lies under an offsite source;
 * - a service's own backup claim holds copies, not live data (with their offsite copy);
 * - with a host section, LVM snapshots and the file backup (and its offsite copy) cover PVCs of
 *   the Proxmox CSI classes outside `host.snapshots.excludeNamespaces`;
 * - NFS-class claims are covered by the offsite sync of the NFS trees.
 * A PVC nothing covers is a gap unless `coverage.exclude` names it or its namespace with a reason.
 */
export function pvcCoverage(plan: BackupPlan, kubectlJson: unknown, classes: StorageClasses): CoverageReport {
  const items = (((kubectlJson as { items?: unknown })?.items ?? []) as Pvc[]).filter(
    (pvc): pvc is { metadata: { name: string; namespace: string }; spec?: Pvc['spec'] } => typeof pvc?.metadata?.name === 'string' && typeof pvc.metadata.namespace === 'string',
  );
  const host = plan.host;
  const offsiteJob = host?.jobs.find((j) => j.name === 'offsite-sync-backup');
  const snapshotJob = host?.jobs.find((j) => j.name === 'lvm-pvc-snapshot');
  const fileJob = host?.jobs.find((j) => j.name === 'daily-backup');
  const used = new Set<CoverageExclusion>();
  const rows = items.map((pvc): CoverageRow => {
    const ns = pvc.metadata.namespace;
    const name = pvc.metadata.name;
    const storageClass = typeof pvc.spec?.storageClassName === 'string' ? pvc.spec.storageClassName : '';
    const covers: Cover[] = [];
    const notes: string[] = [];
    for (const service of plan.services) {
      const offsiteOfDumps = service.protection.find((p) => p.layer === 'offsite')?.copies.find((c) => c.mirrorOf === 'dump');
      if (service.dataClaims.some((c) => c.namespace === ns && c.claim === name)) {
        const dump = service.protection.find((p) => p.layer === 'dump')!;
        covers.push({ layer: 'dump', by: service.id, why: `services.${service.id} names it as its data (${dump.what})` });
        if (offsiteOfDumps) covers.push({ layer: 'offsite', by: `${service.id}'s dumps`, why: `${offsiteOfDumps.of} to ${offsiteOfDumps.where}` });
      }
      if (service.volume.namespace === ns && service.volume.pvcName === name) {
        covers.push({ layer: 'backup-volume', by: service.id, why: `holds the copies of ${service.id} (${service.volume.server}:${service.volume.path})` });
        if (offsiteOfDumps) covers.push({ layer: 'offsite', by: `${service.id}'s dumps`, why: `${offsiteOfDumps.of} to ${offsiteOfDumps.where}` });
      }
    }
    if (classes.lvm.includes(storageClass)) {
      if (!host) {
        notes.push(`no host section: nothing snapshots ${storageClass} volumes`);
      } else if (host.snapshots.excludeNamespaces.includes(ns)) {
        notes.push(`not snapshotted: host.snapshots.excludeNamespaces lists ${ns}`);
      } else {
        covers.push({ layer: 'snapshot', why: `${storageClass} LV in ${host.snapshots.volumeGroup}/${host.snapshots.thinPool}, ${snapshotJob!.schedule.toHuman()}, kept ${host.snapshots.retention.toHuman()}` });
        covers.push({ layer: 'file', why: `${host.fileBackup.mountPoint}, ${fileJob!.schedule.toHuman()}, ${host.fileBackup.weeklyGenerations} weekly generations` });
        if (offsiteJob) covers.push({ layer: 'offsite', by: 'file backup', why: `the backup disk to ${host.offsite.nas.host}:${host.offsite.backupDiskTarget}` });
      }
    } else if (classes.nfs.includes(storageClass)) {
      if (host && offsiteJob) covers.push({ layer: 'offsite', by: 'NFS tree', why: `${storageClass} is provisioned under ${host.offsite.sources.map((s) => s.path).join(' or ')} (--nfs-class), synced ${offsiteJob.schedule.toHuman()}` });
      else notes.push(`no host section: nothing syncs the ${storageClass} NFS trees offsite`);
    } else if (!covers.some((c) => c.layer === 'backup-volume')) {
      notes.push(`storage class ${storageClass || '(none)'}: neither snapshotted (--lvm-class) nor on a synced NFS tree (--nfs-class)`);
    }
    const exclusion = plan.coverageExclusions.find((e) => e.namespace === ns && e.claim === name) ?? plan.coverageExclusions.find((e) => e.namespace === ns && e.claim === undefined);
    if (exclusion) used.add(exclusion);
    const unique = covers.filter((c, i) => covers.findIndex((o) => o.layer === c.layer && o.by === c.by) === i);
    return {
      pvc: `${ns}/${name}`,
      storageClass,
      covers: unique,
      excludedBy: exclusion ? { rule: exclusionRule(exclusion), reason: exclusion.reason } : undefined,
      notes,
      gap: unique.length === 0 && !exclusion,
    };
  });
  rows.sort((a, b) => a.pvc.localeCompare(b.pvc));
  return { rows, unusedExclusions: plan.coverageExclusions.filter((e) => !used.has(e)).map(exclusionRule) };
}

function titleOf(cover: Cover): string {
  if (cover.layer === 'backup-volume') return `backup volume of ${cover.by}`;
  return cover.by ? `${LAYER_TITLES[cover.layer]} (${cover.by})` : LAYER_TITLES[cover.layer];
}

/** The report as a Markdown table: one row per PVC, what covers it and why. */
export function renderCoverage(report: CoverageReport): string {
  const rows = report.rows.map((row) => {
    const coveredBy = row.covers.length > 0 ? row.covers.map(titleOf).join('<br>') : row.excludedBy ? `excluded: ${row.excludedBy.reason}` : '**nothing (not covered, not excluded)**';
    const why = [
      ...row.covers.map((c) => c.why),
      ...(row.excludedBy ? [`${row.excludedBy.rule}${row.covers.length > 0 ? ' (also covered)' : ''}`] : []),
      ...row.notes,
    ];
    return `| ${row.pvc} | ${row.storageClass || '(none)'} | ${coveredBy} | ${why.join('<br>')} |`;
  });
  const gaps = report.rows.filter((r) => r.gap).length;
  const covered = report.rows.filter((r) => r.covers.length > 0).length;
  const excluded = report.rows.filter((r) => r.covers.length === 0 && r.excludedBy).length;
  const unused = report.unusedExclusions.map((e) => `- ${e} names no PVC of this cluster`);
  return `| PVC | storage class | covered by | why |
|---|---|---|---|
${rows.join('\n')}

${report.rows.length} PVCs: ${covered} covered, ${excluded} excluded, ${gaps} not covered.
${unused.length > 0 ? `\nExclusions naming nothing (stale or mistyped):\n\n${unused.join('\n')}\n` : ''}`;
}
