import { Duration } from '../values/duration';
import { isWithin } from '../values/path';
import type { HostPlan } from './host-plan';
import type { PlannedService } from './plan';

/** One layer's protection of one service: what runs, how long copies live, how much can be lost. */
export interface Protection {
  layer: 'snapshot' | 'file' | 'dump' | 'offsite';
  what: string;
  retention: string;
  /** The most data lost if the live copy dies just before the next run. */
  rpo: Duration;
}

export const LAYER_TITLES: Record<Protection['layer'], string> = {
  snapshot: 'LVM snapshot',
  file: 'File backup',
  dump: 'App-level dump',
  offsite: 'Offsite',
};

/** Every layer that protects a service, derived from the plan: nothing here is declared twice. */
export function protectionsOf(service: Omit<PlannedService, 'protection'>, host: HostPlan | undefined): Protection[] {
  const result: Protection[] = [];
  const job = (name: string) => host?.jobs.find((j) => j.name === name);
  const snapshotJob = job('lvm-pvc-snapshot');
  const fileJob = job('daily-backup');
  const offsiteJob = job('offsite-sync-backup');
  const snapshotted = host !== undefined && !host.snapshots.excludeNamespaces.includes(service.namespace);
  if (host && snapshotted && snapshotJob && fileJob) {
    result.push({ layer: 'snapshot', what: snapshotJob.schedule.toHuman(), retention: host.snapshots.retention.toHuman(), rpo: snapshotJob.schedule.longestGap });
    result.push({ layer: 'file', what: fileJob.schedule.toHuman(), retention: `${host.fileBackup.weeklyGenerations} weekly generations`, rpo: fileJob.schedule.longestGap });
  }
  const dumps = service.jobs.filter((j) => j.retention);
  const dumpGap = Math.min(...dumps.map((j) => j.schedule.longestGap.totalSeconds));
  result.push({
    layer: 'dump',
    what: dumps.map((j) => `${j.kind}: ${j.schedule.toHuman()}`).join('; '),
    retention: dumps[0].retention!.toHuman(),
    rpo: Duration.seconds(dumpGap),
  });
  if (host && offsiteJob && fileJob) {
    const viaNfs = host.offsite.sources.some((s) => isWithin(service.volume.path, s.path));
    const layerGaps = [...(viaNfs ? [dumpGap] : []), ...(snapshotted ? [fileJob.schedule.longestGap.totalSeconds] : [])];
    if (layerGaps.length > 0) {
      // The offsite copy lags its source by up to one offsite gap on top of the source's own gap.
      result.push({
        layer: 'offsite',
        what: `${offsiteJob.schedule.toHuman()} (${[viaNfs ? 'dumps via the NFS tree' : '', snapshotted ? 'file backup via the backup disk' : ''].filter(Boolean).join(', ')})`,
        retention: 'mirror of the sources',
        rpo: Duration.seconds(Math.min(...layerGaps) + offsiteJob.schedule.longestGap.totalSeconds),
      });
    }
  }
  return result;
}

/** The layer with the smallest RPO. */
export function bestRpo(protection: Protection[]): Protection {
  return protection.reduce((best, p) => (p.rpo.totalSeconds < best.rpo.totalSeconds ? p : best));
}
