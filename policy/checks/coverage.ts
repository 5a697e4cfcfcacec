import type { BackupPlan } from '../plan/plan';

/** A PersistentVolumeClaim as `kubectl get pvc -A -o json` lists it. */
interface Pvc {
  metadata: { name: string; namespace: string };
  spec?: { storageClassName?: string | null; volumeName?: string };
}

export interface CoverageRow {
  pvc: string;
  storageClass: string;
  covered: string[];
  excludedBy?: string;
}

/**
 * Which layer covers each PVC of a cluster. LVM snapshots and the file backup cover PVCs of the
 * Proxmox CSI storage classes outside the excluded namespaces; NFS classes are covered by the
 * offsite sync; a service of the policy covers the claims it dumps from, its own backup claim,
 * and (in an excluded namespace, where databases live) the claims of its namespace. A PVC nothing covers and no exclusion names
 * is a gap: `lint` fails on it.
 */
export function pvcCoverage(plan: BackupPlan, kubectlJson: unknown, classes: { lvm: string[]; nfs: string[] }): CoverageRow[] {
  const items = ((kubectlJson as { items?: Pvc[] })?.items ?? []) as Pvc[];
  const host = plan.host;
  return items
    .map((pvc) => {
      const ns = pvc.metadata.namespace;
      const storageClass = pvc.spec?.storageClassName ?? '';
      const covered: string[] = [];
      for (const service of plan.services) {
        if (service.dataClaims.some((c) => c.namespace === ns && c.claim === pvc.metadata.name)) covered.push(`app-level dump (${service.id})`);
        if (service.volume.namespace === ns && service.volume.pvcName === pvc.metadata.name) covered.push(`backup volume of ${service.id}`);
        if (service.dataClaims.length === 0 && service.namespace === ns && host?.snapshots.excludeNamespaces.includes(ns)) covered.push(`app-level dump (${service.id}, same namespace)`);
      }
      const excluded = host?.snapshots.excludeNamespaces.includes(ns) ? `host.snapshots.excludeNamespaces (${ns})` : undefined;
      if (host && !excluded && classes.lvm.includes(storageClass)) covered.push('LVM snapshot', 'file backup');
      // NFS-backed claims live under the exported trees the offsite sync mirrors.
      if (host && classes.nfs.includes(storageClass)) covered.push('offsite (NFS tree)');
      return { pvc: `${ns}/${pvc.metadata.name}`, storageClass, covered: [...new Set(covered)], excludedBy: covered.length === 0 ? excluded : undefined };
    })
    .sort((a, b) => a.pvc.localeCompare(b.pvc));
}
