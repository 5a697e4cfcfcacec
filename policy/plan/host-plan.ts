import { Duration } from '../values/duration';
import type { Schedule } from '../values/schedule';
import { parentOf, type AbsolutePath } from '../values/path';
import { SQLITE_LIBRARY } from '../engines/sqlite';
import type { ParsedPolicy } from '../parse/policy-schema';
import type { HostDeclaration } from '../schema/host';
import { staleAfter } from './stale';
import { decimal } from './decimal';

/**
 * The host half of the plan (layers 1-3 of the spec): which jobs run on the Proxmox host, when,
 * in which order, with what configuration and what they may touch. Pure and deterministic, like
 * the cluster plan; the systemd renderer, the bundle and the null-provider construct only
 * translate it.
 */

/** Unit and script names follow the spec, so runbooks and `systemctl status <name>` keep working. */
export const HOST_JOB_NAMES = ['lvm-pvc-snapshot', 'daily-backup', 'offsite-sync-backup'] as const;
export const CHANGE_TRACKER_NAME = 'nfs-change-tracker';
export type HostTimerJobName = (typeof HOST_JOB_NAMES)[number];
export type HostUnitName = HostTimerJobName | typeof CHANGE_TRACKER_NAME;

/** Sourced by every host script; shipped beside them. */
export const HOST_LIBRARIES = ['backup-lib.sh', SQLITE_LIBRARY, 'host-lib.sh'] as const;
/**
 * Run by hand on the host: restores from daily-backup's copies (pvc-data weeks, SQLite copies).
 * No unit: it is a command, linked as /usr/local/bin/host-restore like the jobs.
 */
export const HOST_RESTORE_NAME = 'host-restore';
export const HOST_RESTORE_SCRIPT = `${HOST_RESTORE_NAME}.sh`;
/** Installs a bundle on the host (also what the null provider runs remotely). */
export const HOST_INSTALLER = 'host-install.sh';

/** Where the rendered configuration lives on the host; every host script reads it. */
export const HOST_CONFIG_PATH = '/etc/backup-policy/host.env';
/** systemd's StateDirectory=backup-policy: job locks, last-run status, the PV lookup cache. */
export const HOST_STATE_DIR = '/var/lib/backup-policy';
/** Operators type `lvm-pvc-snapshot restore ...`, as in the spec's runbooks. */
export const HOST_BIN_DIR = '/usr/local/bin';
export const HOST_UNIT_DIR = '/etc/systemd/system';

/** Defaults that fit each job on the homelab's disks, shortened for jobs that run more often. */
const DEFAULT_TIMEOUTS: Record<HostTimerJobName, Duration> = {
  // Thin snapshots are metadata operations: minutes at most, unless LVM is stuck on a lock.
  'lvm-pvc-snapshot': Duration.minutes(30),
  // File copies of ~60 PVCs plus SQLite copies and the pfSense archive.
  'daily-backup': Duration.hours(6),
  // The monthly --delete pass walks every NFS tree (the spec measured 30-60 minutes).
  'offsite-sync-backup': Duration.hours(8),
};

/** What a job needs from the host; the renderer turns it into the strictest sandbox that allows it. */
export interface HostSandbox {
  /** Talks to LVM: needs the block devices, /etc/lvm (metadata archives) and /run/lvm (locks). */
  lvm: boolean;
  /** Mounts snapshots (CAP_SYS_ADMIN); the mounts stay inside the service's mount namespace. */
  mounts: boolean;
  /** Pushgateway, kubectl, SSH to the NAS or pfSense. */
  network: boolean;
  /** Reads SSH keys or the kubeconfig under /root. */
  readsHome: boolean;
  /** Everything else it writes (besides the state directory and its runtime directory). */
  writablePaths: AbsolutePath[];
  /** Backup I/O yields to the VMs' I/O. */
  idleIo: boolean;
}

export interface PlannedHostUnit {
  name: HostUnitName;
  description: string;
  /** The script in host-scripts/, installed into installDir. */
  script: string;
  args: string[];
  /** Units this one starts after (and, for `wants`, pulls in). */
  after: string[];
  wants: string[];
  requiresMountsFor: AbsolutePath[];
  sandbox: HostSandbox;
}

export interface PlannedHostTimerJob extends PlannedHostUnit {
  kind: 'timer';
  name: HostTimerJobName;
  schedule: Schedule;
  /** OnCalendar with the host's time zone appended, so DST and the host's clock setting don't matter. */
  onCalendar: string;
  timeout: Duration;
  randomizedDelay: Duration;
  /** Derived like the cluster jobs': one missed run plus half the longest gap, the grace capped at a day. */
  staleAfter: Duration;
}

export interface PlannedHostService extends PlannedHostUnit {
  kind: 'service';
  name: typeof CHANGE_TRACKER_NAME;
}

export interface HostPlan {
  name: string;
  address: string;
  /** The pinned SSH host key; the deploy refuses to connect without one unless acceptUnknownHostKey. */
  hostKey?: string;
  acceptUnknownHostKey: boolean;
  /** The zone of every OnCalendar (the host's own, or the policy's). */
  timeZone: string;
  installDir: AbsolutePath;
  /** What each layer keeps and watches, for alerts, docs, lint and review. */
  snapshots: Omit<HostDeclaration['snapshots'], 'schedule' | 'timeout'>;
  fileBackup: Omit<HostDeclaration['fileBackup'], 'schedule' | 'timeout'>;
  offsite: Omit<HostDeclaration['offsite'], 'schedule' | 'timeout'>;
  configPath: string;
  /** KEY=value lines of host.env, in this order; values never contain spaces around '=' or quotes. */
  config: [string, string][];
  jobs: PlannedHostTimerJob[];
  tracker: PlannedHostService;
  /** The restore command: its script in installDir, and the link on PATH. */
  restore: { script: string; path: AbsolutePath; link: string };
  /** Every script the host needs, libraries first. */
  scripts: string[];
}

function defaultTimeout(name: HostTimerJobName, schedule: Schedule): Duration {
  return DEFAULT_TIMEOUTS[name].min(schedule.shortestGap.times(0.5));
}

/** host.env: the one place the scripts take their settings from (see host-scripts/CONTRACT.md). */
function hostConfig(host: HostDeclaration, timeZone: string, snapshotSchedule: Schedule): [string, string][] {
  const { snapshots, fileBackup, offsite } = host;
  const sqlite = fileBackup.sqlite;
  return [
    ['HOST_NAME', host.name],
    ['HOST_TIME_ZONE', timeZone],
    ['HOST_STATE_DIR', HOST_STATE_DIR],
    ['PUSHGATEWAY_URL', host.pushgateway.url],
    ['KUBECONFIG', host.kubeconfig],
    ['LVM_VG', snapshots.volumeGroup],
    ['LVM_THIN_POOL', snapshots.thinPool],
    ['LVM_LV_PATTERN', snapshots.lvPattern],
    ['LVM_EXCLUDE_NAMESPACES', snapshots.excludeNamespaces.join(' ')],
    ['LVM_SNAPSHOT_RETENTION_SECONDS', String(snapshots.retention.totalSeconds)],
    // Prune trusts only a snapshot run this recent: older means the day's snapshots did not happen.
    ['LVM_SNAPSHOT_FRESH_SECONDS', String(staleAfter(snapshotSchedule).totalSeconds)],
    ['LVM_MIN_FREE_PERCENT', String(snapshots.minFreePercent)],
    ['BACKUP_DISK', fileBackup.mountPoint],
    ['WEEKLY_GENERATIONS', String(fileBackup.weeklyGenerations)],
    ['SQLITE_KEEP_WITHIN_SECONDS', String(sqlite.retention.keepWithin.totalSeconds)],
    ['SQLITE_KEEP_LAST', String(sqlite.retention.keepLast)],
    ['SQLITE_MIN_SIZE_RATIO', decimal(sqlite.minSizeRatio)],
    ['PVE_CONFIG_PATHS', fileBackup.pveConfig.paths.join(' ')],
    ['PFSENSE_HOST', fileBackup.pfsense?.host ?? ''],
    ['PFSENSE_PORT', String(fileBackup.pfsense?.port ?? '')],
    ['PFSENSE_USER', fileBackup.pfsense?.user ?? ''],
    ['PFSENSE_IDENTITY_FILE', fileBackup.pfsense?.identityFile ?? ''],
    ['PFSENSE_KNOWN_HOSTS', fileBackup.pfsense?.knownHostsFile ?? ''],
    ['PFSENSE_CONFIG_PATH', fileBackup.pfsense?.configPath ?? ''],
    ['PFSENSE_ARCHIVE_PATHS', fileBackup.pfsense?.archivePaths.join(' ') ?? ''],
    ['NAS_HOST', offsite.nas.host],
    ['NAS_PORT', String(offsite.nas.port)],
    ['NAS_USER', offsite.nas.user],
    ['NAS_IDENTITY_FILE', offsite.nas.identityFile],
    ['NAS_KNOWN_HOSTS', offsite.nas.knownHostsFile],
    ['OFFSITE_BACKUP_DISK_TARGET', offsite.backupDiskTarget],
    ['OFFSITE_SOURCES', offsite.sources.map((s) => `${s.path}=${s.target}`).join(' ')],
    ['CHANGE_LOG', offsite.changeLog],
    ['OFFSITE_FULL_SYNC', offsite.fullSync],
  ];
}

/** The host plan, or undefined for a policy without a host section. */
export function planHost(policy: Pick<ParsedPolicy, 'timeZone' | 'host'>): HostPlan | undefined {
  const host = policy.host;
  if (!host) return undefined;
  const timeZone = host.timeZone ?? policy.timeZone;
  const randomizedDelay = host.randomizedDelay;
  const backupDisk = host.fileBackup.mountPoint;
  const changeLogDir = parentOf(host.offsite.changeLog);

  const timerJob = (
    name: HostTimerJobName,
    section: { schedule: Schedule; timeout?: Duration },
    unit: Omit<PlannedHostUnit, 'name' | 'script'>,
  ): PlannedHostTimerJob => {
    const schedule = section.schedule;
    return {
      kind: 'timer',
      name,
      script: `${name}.sh`,
      ...unit,
      schedule,
      onCalendar: `${schedule.toOnCalendar()} ${timeZone}`,
      timeout: section.timeout ?? defaultTimeout(name, schedule),
      randomizedDelay,
      staleAfter: staleAfter(schedule),
    };
  };

  const snapshotSchedule = host.snapshots.schedule;
  const jobs: PlannedHostTimerJob[] = [
    timerJob('lvm-pvc-snapshot', host.snapshots, {
      description: `LVM thin snapshots of the PVC volumes in ${host.snapshots.volumeGroup}/${host.snapshots.thinPool}`,
      args: ['snapshot'],
      after: [],
      wants: [],
      requiresMountsFor: [],
      sandbox: { lvm: true, mounts: false, network: true, readsHome: true, writablePaths: [], idleIo: false },
    }),
    timerJob('daily-backup', host.fileBackup, {
      description: `File backup of the newest PVC snapshots, SQLite databases, pfSense and PVE config to ${backupDisk}`,
      args: [],
      // When both timers fire together (Persistent catch-up after a reboot), snapshot first.
      after: ['lvm-pvc-snapshot.service'],
      wants: [],
      requiresMountsFor: [backupDisk],
      sandbox: { lvm: true, mounts: true, network: true, readsHome: true, writablePaths: [backupDisk], idleIo: true },
    }),
    timerJob('offsite-sync-backup', host.offsite, {
      description: `Offsite sync of ${backupDisk} and the NFS trees to ${host.offsite.nas.host}`,
      args: [],
      // Ordered, not only timed: a daily backup still running at the offsite time is waited for.
      // No Wants= on it: that would start a second daily backup after the morning's had finished.
      after: ['daily-backup.service', `${CHANGE_TRACKER_NAME}.service`],
      // The sync trusts the change log only while the tracker runs; pull it in if it is stopped.
      wants: [`${CHANGE_TRACKER_NAME}.service`],
      requiresMountsFor: [...new Set([backupDisk, changeLogDir, ...host.offsite.sources.map((s) => s.path)])],
      sandbox: { lvm: false, mounts: false, network: true, readsHome: true, writablePaths: [...new Set([backupDisk, changeLogDir])], idleIo: true },
    }),
  ];

  const tracker: PlannedHostService = {
    kind: 'service',
    name: CHANGE_TRACKER_NAME,
    description: `Change log of ${host.offsite.sources.map((s) => s.path).join(' and ')} for the offsite sync`,
    script: `${CHANGE_TRACKER_NAME}.sh`,
    args: [],
    after: [],
    wants: [],
    requiresMountsFor: [...new Set([changeLogDir, ...host.offsite.sources.map((s) => s.path)])],
    sandbox: { lvm: false, mounts: false, network: false, readsHome: false, writablePaths: [changeLogDir], idleIo: false },
  };

  const { schedule: _s, timeout: _t, ...snapshots } = host.snapshots;
  const { schedule: _fs, timeout: _ft, ...fileBackup } = host.fileBackup;
  const { schedule: _os, timeout: _ot, ...offsite } = host.offsite;
  return {
    name: host.name,
    address: host.address,
    hostKey: host.hostKey,
    acceptUnknownHostKey: host.acceptUnknownHostKey ?? false,
    timeZone,
    installDir: host.installDir,
    snapshots,
    fileBackup,
    offsite,
    configPath: HOST_CONFIG_PATH,
    config: hostConfig(host, timeZone, snapshotSchedule),
    jobs,
    tracker,
    restore: { script: HOST_RESTORE_SCRIPT, path: `${host.installDir}/${HOST_RESTORE_SCRIPT}` as AbsolutePath, link: `${HOST_BIN_DIR}/${HOST_RESTORE_NAME}` },
    scripts: [...HOST_LIBRARIES, ...jobs.map((j) => j.script), tracker.script, HOST_RESTORE_SCRIPT],
  };
}
