import { z } from 'zod';
import { isWithin, overlaps, type AbsolutePath } from '../values/path';
import {
  absolutePathSchema,
  countSchema,
  dnsLabel,
  durationSchema,
  hostSchema,
  portSchema,
  ratioSchema,
  retentionSchema,
  scheduleSchema,
  show,
  timeZoneSchema,
  urlSchema,
} from './fields';

// --- The Proxmox host (layers 1-3 of the spec): LVM thin snapshots, file backup, offsite sync ---

/** LVM's own rule for VG and LV names; anything else is refused by lvcreate anyway. */
const LVM_NAME = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$/;
const lvmName = (what: string) =>
  z
    .string({ error: (iss) => `expected ${what}, received ${show(iss.input)}` })
    .refine((text) => LVM_NAME.test(text) && text !== '.' && text !== '..', {
      error: (iss) => `${what} is not an LVM name, received ${show(iss.input)}, allowed: letters, digits and + _ . -, not starting with "-", at most 127 characters`,
    });

/** A shell glob over LV names: LVM name characters plus * and ?, so it can be matched unquoted-safe. */
const lvPatternSchema = z
  .string({ error: (iss) => `expected an LV name pattern, received ${show(iss.input)}` })
  .refine((text) => /^[A-Za-z0-9+_.*?-]{1,127}$/.test(text) && /[*?]/.test(text) && !text.startsWith('-'), {
    error: (iss) => `not an LV name pattern, received ${show(iss.input)}, allowed: LVM name characters with at least one * or ? (e.g. "vm-*-pvc-*")`,
  });

const sshUserSchema = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, {
  error: (iss) => `not a login name, received ${show(iss.input)}, allowed: lowercase letters, digits, "_" and "-", starting with a letter or "_"`,
});

const percentSchema = z
  .number({ error: (iss) => `expected a percentage, received ${show(iss.input)}` })
  .min(0, { error: (iss) => `percentage out of range, received ${show(iss.input)}, allowed: 0-100` })
  .max(100, { error: (iss) => `percentage out of range, received ${show(iss.input)}, allowed: 0-100` })
  // Rendered with String() into host.env (awk) and alert expressions: at most two decimal places
  // keeps it plain decimal ("1e-7" is what String() makes of 0.0000001).
  .refine((n) => Math.abs(n * 100 - Math.round(n * 100)) < 1e-6, {
    error: (iss) => `too many decimal places, received ${show(iss.input)}, allowed: at most 2 (e.g. 15, 12.5, 0.25)`,
  });

const hostJob = {
  schedule: scheduleSchema,
  timeout: durationSchema.optional().meta({ description: 'TimeoutStartSec of the oneshot service; must be shorter than the gap between runs.' }),
};

export const hostSnapshotsSchema = z.strictObject({
  volumeGroup: lvmName('volume group name').meta({ description: 'VG of the thin pool holding the PVC LVs ("pve").' }),
  thinPool: lvmName('thin pool name').meta({ description: 'The thin pool LV ("data").' }),
  lvPattern: lvPatternSchema.default('vm-*-pvc-*').meta({ description: 'Proxmox CSI names PVC LVs vm-<vmid>-pvc-<uuid>. @default "vm-*-pvc-*"' }),
  excludeNamespaces: z.array(dnsLabel('namespace')).default([]).meta({ description: 'PVCs in these namespaces get no snapshot and no file backup (high-churn databases with their own dumps).' }),
  ...hostJob,
  retention: durationSchema.meta({ description: 'Snapshots older than this are pruned, never the newest per LV, never after a failed snapshot run.' }),
  minFreePercent: percentSchema.default(15).meta({ description: 'No snapshot is taken while the thin pool has less free space than this: a full thin pool stops every VM on it. @default 15' }),
});

export const hostFileBackupSchema = z.strictObject({
  mountPoint: absolutePathSchema.meta({ description: 'The backup disk, mounted by the host (the unit requires the mount).' }),
  diskFullPercent: percentSchema.default(85).meta({ description: 'BackupDiskFull fires above this usage of the backup disk. @default 85' }),
  ...hostJob,
  weeklyGenerations: countSchema('weeklyGenerations', 1, 'must keep at least the current week')
    .default(4)
    .meta({ description: 'ISO-week folders kept under pvc-data/ and pfsense/ (hard-linked with --link-dest). @default 4' }),
  sqlite: z
    .strictObject({
      retention: retentionSchema.prefault({ keepWithin: '28d', keepLast: 4 }),
      minSizeRatio: ratioSchema.default(0.5),
    })
    .prefault({})
    .meta({ description: 'Copies of every SQLite database found in the snapshots, under sqlite-backup/.' }),
  pfsense: z
    .strictObject({
      host: hostSchema,
      port: portSchema.default(22),
      user: sshUserSchema.default('root'),
      identityFile: absolutePathSchema.meta({ description: 'Private key on the Proxmox host (a path, never the key).' }),
      knownHostsFile: absolutePathSchema.prefault('/root/.ssh/known_hosts').meta({ description: 'Host keys are checked strictly; this file must hold the firewall\'s key.' }),
      configPath: absolutePathSchema.prefault('/cf/conf/config.xml'),
      archivePaths: z.array(absolutePathSchema).min(1).prefault(['/cf', '/var/db', '/boot/loader.conf']).meta({ description: 'Archived once per ISO week (the first successful run of the week).' }),
    })
    .optional()
    .meta({ description: 'config.xml every run and a full archive weekly, both over SSH.' }),
  pveConfig: z
    .strictObject({ paths: z.array(absolutePathSchema).min(1).prefault(['/etc/pve', '/usr/local/bin', '/etc/systemd/system']) })
    .prefault({})
    .meta({ description: 'Copied to pve-config/ every run (one copy, replaced only when complete).' }),
});

export const hostOffsiteSchema = z.strictObject({
  nas: z.strictObject({
    host: hostSchema,
    user: sshUserSchema.default('root'),
    port: portSchema.default(22),
    identityFile: absolutePathSchema.meta({ description: 'Private key on the Proxmox host (a path, never the key).' }),
    knownHostsFile: absolutePathSchema.prefault('/root/.ssh/known_hosts'),
  }),
  ...hostJob,
  backupDiskTarget: absolutePathSchema.meta({ description: 'Step 1: where the backup disk is mirrored on the NAS (hard links preserved).' }),
  sources: z
    .array(z.strictObject({ path: absolutePathSchema, target: absolutePathSchema }))
    .min(1, { error: 'no NFS tree declared, received an empty list, allowed: at least one { path, target }' })
    .meta({ description: 'Step 2: NFS trees synced from the change log, each to its own NAS folder.' }),
  changeLog: absolutePathSchema.meta({ description: 'Written by nfs-change-tracker, rotated under a lock by the sync.' }),
  fullSync: z
    .enum(['first-sunday', 'never'])
    .default('first-sunday')
    .meta({ description: 'When the --delete pass runs besides an overflowed or missing change log. @default "first-sunday"' }),
});

export const hostSectionSchema = z
  .strictObject({
    name: dnsLabel('host name').meta({ description: 'Names the host in docs and metrics ("pve").' }),
    address: hostSchema.meta({ description: 'Where the host is reached over SSH for deployment (the connection itself comes from Terraform variables).' }),
    hostKey: z
      .string()
      .regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}$/, {
        error: (iss) => `not an SSH public host key, received ${show(iss.input)}, allowed: "<type> <base64>" as \`ssh-keyscan -t ed25519 <host>\` prints it after the host name`,
      })
      .optional()
      .meta({ description: 'The host\'s SSH public key ("ssh-ed25519 AAAA..."). The deploy runs install.sh as root on whatever answers, so it refuses to connect without a pinned key (this, or TF_VAR_host_ssh_host_key). @default none' }),
    acceptUnknownHostKey: z
      .literal(true, { error: (iss) => `acceptUnknownHostKey can only be true, received ${show(iss.input)}, allowed: true, or leave it out` })
      .optional()
      .meta({ description: 'Deploy without checking the host key (anyone on the path can answer as the host and get root-run scripts). lint reports it. @default absent: a host key is required' }),
    timeZone: timeZoneSchema.optional().meta({ description: 'Zone of the OnCalendar schedules. @default the policy timeZone' }),
    pushgateway: z.strictObject({ url: urlSchema }).meta({ description: 'The Pushgateway as the host reaches it (a NodePort, not the cluster DNS name).' }),
    kubeconfig: absolutePathSchema.prefault('/root/.kube/config').meta({ description: 'kubectl config on the host: PVC LV -> namespace lookup and workload scaling on restore.' }),
    installDir: absolutePathSchema.prefault('/usr/local/lib/backup-policy'),
    randomizedDelay: durationSchema.prefault('5m').meta({ description: 'RandomizedDelaySec of every timer. @default "5m"' }),
    snapshots: hostSnapshotsSchema,
    fileBackup: hostFileBackupSchema,
    offsite: hostOffsiteSchema,
  })
  .superRefine((host, ctx) => {
    const at = (...path: (string | number)[]) => ({ code: 'custom' as const, path });
    if (host.hostKey && host.acceptUnknownHostKey) {
      ctx.addIssue({ ...at('acceptUnknownHostKey'), input: true, message: 'a pinned hostKey and acceptUnknownHostKey contradict each other, received both, allowed: one of them' });
    }
    const delay = host.randomizedDelay;
    for (const section of ['snapshots', 'fileBackup', 'offsite'] as const) {
      const schedule = host[section].schedule;
      try {
        schedule.toOnCalendar();
      } catch (error) {
        ctx.addIssue({ ...at(section, 'schedule'), input: schedule.source, message: `${(error as Error).message}, received ${show(schedule.source)}, allowed: a schedule restricting day of month or day of week, not both` });
      }
      const timeout = host[section].timeout;
      if (timeout && timeout.totalSeconds >= schedule.shortestGap.totalSeconds) {
        ctx.addIssue({ ...at(section, 'timeout'), input: timeout.toString(), message: `the service timeout is not shorter than the gap between runs, so a hung run would skip the next; received ${timeout.toString()}, allowed: less than ${schedule.shortestGap.toString()}` });
      }
      if (delay.totalSeconds * 2 > schedule.shortestGap.totalSeconds) {
        ctx.addIssue({ ...at('randomizedDelay'), input: delay.toString(), message: `the randomized delay would move ${section} runs by more than half the gap between them; received ${delay.toString()}, allowed: at most ${schedule.shortestGap.times(0.5).toString()}` });
      }
    }
    // What the host jobs touch: the daily backup copies pveConfig.paths onto the backup disk, and
    // the offsite sync rotates (truncates) the change log. ["/"] copied the root filesystem,
    // the backup disk included, into itself; a change log at /etc/passwd would be emptied.
    const disk = host.fileBackup.mountPoint;
    host.fileBackup.pveConfig.paths.forEach((path, i) => {
      const problem =
        path === '/'
          ? 'the whole root filesystem'
          : isWithin(disk, path)
            ? `a tree holding the backup disk ${show(disk)} (it would copy itself)`
            : isWithin(path, disk)
              ? `a folder on the backup disk ${show(disk)}`
              : host.offsite.sources.find((source) => overlaps(path, source.path))
                ? 'an NFS tree (the offsite sync already carries it)'
                : undefined;
      if (problem) {
        ctx.addIssue({ ...at('fileBackup', 'pveConfig', 'paths', i), input: path, message: `a PVE config path must be configuration, not ${problem}; received ${show(path)}, allowed: folders such as "/etc/pve" outside the backup disk and the NFS trees` });
      }
    });
    // Where a log that gets truncated may live: the backup disk or the host's variable-data trees.
    const changeLogHomes = [disk, '/var/lib', '/var/log', '/var/cache', '/run'] as AbsolutePath[];
    const insideSource = host.offsite.sources.some((source) => isWithin(host.offsite.changeLog, source.path));
    // Inside a watched tree is its own issue (below); one issue per mistake.
    if (!insideSource && !changeLogHomes.some((home) => isWithin(host.offsite.changeLog, home) && host.offsite.changeLog !== home)) {
      ctx.addIssue({ ...at('offsite', 'changeLog'), input: host.offsite.changeLog, message: `the offsite sync truncates the change log, so it must be a file of its own, received ${show(host.offsite.changeLog)}, allowed: a file under the backup disk ${show(disk)}, /var/lib, /var/log, /var/cache or /run` });
    }
    const sources = host.offsite.sources;
    sources.forEach((source, i) => {
      sources.forEach((other, j) => {
        if (i < j && overlaps(source.path, other.path)) {
          ctx.addIssue({ ...at('offsite', 'sources', j, 'path'), input: other.path, message: `NFS trees overlap, received ${show(other.path)} and ${show(source.path)}, allowed: trees that do not contain each other (a path would be synced twice)` });
        }
        if (i < j && overlaps(source.target, other.target)) {
          ctx.addIssue({ ...at('offsite', 'sources', j, 'target'), input: other.target, message: `NAS targets overlap, received ${show(other.target)} and ${show(source.target)}, allowed: separate folders (one tree's --delete pass would remove the other's files)` });
        }
      });
      if (isWithin(host.offsite.changeLog, source.path)) {
        ctx.addIssue({ ...at('offsite', 'changeLog'), input: host.offsite.changeLog, message: `the change log is inside a watched tree, received ${show(host.offsite.changeLog)} under ${show(source.path)}, allowed: a path outside every source (each write to it would log itself)` });
      }
      if (overlaps(host.fileBackup.mountPoint, source.path)) {
        ctx.addIssue({ ...at('offsite', 'sources', i, 'path'), input: source.path, message: `an NFS tree overlaps the backup disk, received ${show(source.path)} and mount point ${show(host.fileBackup.mountPoint)}, allowed: separate trees (step 1 already mirrors the backup disk)` });
      }
      if (overlaps(source.target, host.offsite.backupDiskTarget)) {
        ctx.addIssue({ ...at('offsite', 'sources', i, 'target'), input: source.target, message: `NAS targets overlap, received ${show(source.target)} and backupDiskTarget ${show(host.offsite.backupDiskTarget)}, allowed: separate folders (one --delete pass would remove the other's files)` });
      }
    });
  })
  .meta({ description: 'The Proxmox host: LVM thin snapshots, daily file backup, offsite sync. Rendered to scripts and systemd units.' });


export type HostInput = z.input<typeof hostSectionSchema>;
/** The parsed host section: values, normalized paths, canonical zone. */
export type HostDeclaration = z.output<typeof hostSectionSchema>;
