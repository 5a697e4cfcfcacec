import { Duration } from './duration';
import { Schedule } from './schedule';
import type { BackupPlan, PlannedJob, PlannedService } from './plan';
import type { BackupPolicyDeclaration } from './schema';
import { protections } from './docs/tables';

/**
 * Checks of a valid policy against good practice: each finding names the field path, what is
 * wrong and what would fix it. Unlike schema errors these are judgements of a working policy,
 * so they are reported by `backup-policy lint`, not by parsing.
 */
export interface Finding {
  path: string;
  message: string;
}

/** Two jobs against one server starting closer than this share its I/O and locks. */
export const SAME_WINDOW = Duration.minutes(15);

/** What a job reads from: the same key means the same server or database file. */
function target(service: PlannedService): string {
  const d = service.declaration;
  switch (d.engine) {
    case 'postgres':
    case 'mysql':
    case 'redis':
      return `${d.connection.host}:${d.connection.port}`;
    case 'etcd':
      return d.endpoints.join(',');
    case 'vault':
      return d.address;
    case 'sqlite':
      return `${d.namespace}/${d.data.claimName}/${d.data.database}`;
  }
}

function checkRpo(service: PlannedService): Finding[] {
  const rpo = service.declaration.rpo ? Duration.parse(service.declaration.rpo) : undefined;
  if (!rpo) return [];
  return service.jobs
    .filter((job) => job.retention && job.schedule.longestGap.totalSeconds > rpo.totalSeconds)
    .map((job) => ({
      path: `services.${service.id}.rpo`,
      message: `the ${job.kind} job can leave ${job.schedule.longestGap.toHuman()} between runs ("${job.schedule.source}"), more than the declared RPO of ${rpo.toHuman()}; schedule it at least every ${rpo.toHuman()}`,
    }));
}

function checkRetention(service: PlannedService): Finding[] {
  return service.jobs
    .filter((job): job is PlannedJob & { retention: NonNullable<PlannedJob['retention']> } => job.retention !== undefined)
    .filter((job) => Math.max(job.retention.keepLast, Math.floor(job.retention.keepWithin.totalSeconds / job.schedule.longestGap.totalSeconds)) < 2)
    .map((job) => ({
      path: `services.${service.id}.retention`,
      message: `keeps fewer than two runs of the ${job.kind} job (keepWithin ${job.retention.keepWithin.toHuman()}, keepLast ${job.retention.keepLast}, runs up to ${job.schedule.longestGap.toHuman()} apart): one bad run leaves nothing to fall back on; keep at least 2`,
    }));
}

function checkOverlaps(plan: BackupPlan): Finding[] {
  const jobs = plan.services.flatMap((service) => service.jobs.map((job) => ({ service, job, target: target(service) })));
  const findings: Finding[] = [];
  // One reference week covers every weekly pattern; monthly ones are checked on their week.
  const from = new Date('2026-01-05T00:00:00Z');
  const to = new Date(from.getTime() + 7 * 86400_000);
  jobs.forEach((a, i) =>
    jobs.slice(i + 1).forEach((b) => {
      if (a.target !== b.target) return;
      const runsB = b.job.schedule.runsBetween(from, to, plan.timeZone).map((d) => d.getTime());
      const clash = a.job.schedule.runsBetween(from, to, plan.timeZone).find((ra) => runsB.some((rb) => Math.abs(rb - ra.getTime()) < SAME_WINDOW.totalSeconds * 1000));
      if (clash) {
        findings.push({
          path: `services.${b.service.id}`,
          message: `${a.job.name} and ${b.job.name} both hit ${a.target} within ${SAME_WINDOW.toHuman()} (e.g. ${clash.toISOString()}); move one of them at least ${SAME_WINDOW.toHuman()} apart`,
        });
      }
    }),
  );
  return findings;
}

function checkCopies(service: PlannedService, policy: BackupPolicyDeclaration): Finding[] {
  const layers = protections(service, policy).map((p) => p.layer);
  const findings: Finding[] = [];
  // Snapshots share the thin pool with the data. Dumps land on the NFS server, which is the same
  // machine (and, in the spec's homelab, the same disk) when the host section names it.
  const dumpsOnSameHost = policy.host !== undefined && policy.host.address === policy.nfs.server;
  const outside = layers.filter((l) => l === 'file' || l === 'offsite' || (l === 'dump' && !dumpsOnSameHost));
  if (outside.length === 0) {
    findings.push({ path: `services.${service.id}`, message: `no copy outside its own disk: its ${layers.join(' and ')} copies live on the host that holds the data (${policy.nfs.server}); add a file backup or an offsite copy` });
  }
  if (service.declaration.critical && !layers.includes('offsite')) {
    findings.push({ path: `services.${service.id}`, message: 'marked critical but has no offsite copy: put its backup directory under one of host.offsite.sources, or declare the host offsite sync' });
  }
  return findings;
}

function checkHost(policy: BackupPolicyDeclaration): Finding[] {
  const host = policy.host;
  if (!host) return [];
  const schedule = Schedule.parse(host.snapshots.schedule);
  const retention = Duration.parse(host.snapshots.retention);
  return retention.totalSeconds < 2 * schedule.longestGap.totalSeconds
    ? [{ path: 'host.snapshots.retention', message: `keeps snapshots ${retention.toHuman()} while they are taken up to ${schedule.longestGap.toHuman()} apart: fewer than two remain; keep at least ${schedule.longestGap.times(2).toHuman()}` }]
    : [];
}

export function lintPolicy(policy: BackupPolicyDeclaration, plan: BackupPlan): Finding[] {
  return [
    ...plan.services.flatMap((service) => [...checkRpo(service), ...checkRetention(service), ...checkCopies(service, policy)]),
    ...checkOverlaps(plan),
    ...checkHost(policy),
  ];
}

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
export function pvcCoverage(policy: BackupPolicyDeclaration, plan: BackupPlan, kubectlJson: unknown, classes: { lvm: string[]; nfs: string[] }): CoverageRow[] {
  const items = ((kubectlJson as { items?: Pvc[] })?.items ?? []) as Pvc[];
  const host = policy.host;
  return items
    .map((pvc) => {
      const ns = pvc.metadata.namespace;
      const storageClass = pvc.spec?.storageClassName ?? '';
      const covered: string[] = [];
      for (const service of plan.services) {
        const d = service.declaration;
        if (d.engine === 'sqlite' && d.namespace === ns && d.data.claimName === pvc.metadata.name) covered.push(`app-level dump (${service.id})`);
        if (service.volume.namespace === ns && service.volume.pvcName === pvc.metadata.name) covered.push(`backup volume of ${service.id}`);
        if (d.engine !== 'sqlite' && d.namespace === ns && host?.snapshots.excludeNamespaces.includes(ns)) covered.push(`app-level dump (${service.id}, same namespace)`);
      }
      const excluded = host?.snapshots.excludeNamespaces.includes(ns) ? `host.snapshots.excludeNamespaces (${ns})` : undefined;
      if (host && !excluded && classes.lvm.includes(storageClass)) covered.push('LVM snapshot', 'file backup');
      // NFS-backed claims live under the exported trees the offsite sync mirrors.
      if (host && classes.nfs.includes(storageClass)) covered.push('offsite (NFS tree)');
      return { pvc: `${ns}/${pvc.metadata.name}`, storageClass, covered: [...new Set(covered)], excludedBy: covered.length === 0 ? excluded : undefined };
    })
    .sort((a, b) => a.pvc.localeCompare(b.pvc));
}
