import { Duration } from '../values/duration';
import type { Schedule } from '../values/schedule';
import type { BackupPlan, PlannedJob, PlannedService } from '../plan/plan';

/**
 * Checks of a valid policy against good practice: each finding names the field path, what is
 * wrong and what would fix it. Unlike schema errors these are judgements of a working policy,
 * so they are reported by `backup-policy lint`, not by parsing.
 */
export interface Finding {
  path: string;
  message: string;
}

/**
 * Things a reviewer should see that are not mistakes: declared exceptions (root) and weaker but
 * usual choices (an image pinned by tag). `lint` prints them and still exits 0.
 */
export interface Warning extends Finding {
  severity: 'warning';
}

/** Two jobs against one server starting closer than this share its I/O and locks. */
export const SAME_WINDOW = Duration.minutes(15);

function checkRpo(service: PlannedService): Finding[] {
  const rpo = service.rpo;
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

/** One reference week covers every weekly pattern; monthly ones are checked on their week. */
const WEEK_FROM = new Date('2026-01-05T00:00:00Z');
const WEEK_TO = new Date(WEEK_FROM.getTime() + 7 * 86400_000);

/** The first run of `a` within SAME_WINDOW of a run of `b` in the reference week, if any. */
function firstClash(a: Schedule, b: Schedule, timeZone: string): Date | undefined {
  const runsB = b.runsBetween(WEEK_FROM, WEEK_TO, timeZone).map((d) => d.getTime());
  return a.runsBetween(WEEK_FROM, WEEK_TO, timeZone).find((ra) => runsB.some((rb) => Math.abs(rb - ra.getTime()) < SAME_WINDOW.totalSeconds * 1000));
}

function checkOverlaps(plan: BackupPlan): Finding[] {
  const jobs = plan.services.flatMap((service) => service.jobs.map((job) => ({ service, job, target: service.target })));
  const findings: Finding[] = [];
  jobs.forEach((a, i) =>
    jobs.slice(i + 1).forEach((b) => {
      if (a.target !== b.target) return;
      const clash = firstClash(a.job.schedule, b.job.schedule, plan.timeZone);
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

/**
 * A drill never touches the server, but it reads the backup volume its own service's jobs write:
 * started beside one of them, it competes for that volume and restores the copy that run is
 * about to replace. A critical service without a drill has copies nobody has tried to restore.
 */
function checkDrills(service: PlannedService, plan: BackupPlan): Finding[] {
  const findings: Finding[] = [];
  if (service.critical && service.drills.length === 0) {
    findings.push({ path: `services.${service.id}.drill`, message: 'marked critical but never drilled: nothing proves its copies restore until the day one is needed; set drill.schedule (or the policy\'s drills.schedule) and keep drill.enabled true' });
  }
  for (const drill of service.drills) {
    for (const job of service.jobs) {
      const clash = firstClash(drill.schedule, job.schedule, plan.timeZone);
      if (clash) {
        findings.push({
          path: `services.${service.id}.drill.schedule`,
          message: `${drill.name} and ${job.name} start within ${SAME_WINDOW.toHuman()} of each other (e.g. ${clash.toISOString()}): the drill would read the backup volume while the job writes it; move the drill at least ${SAME_WINDOW.toHuman()} away from the service's jobs`,
        });
      }
    }
  }
  return findings;
}

function checkCopies(service: PlannedService, plan: BackupPlan): Finding[] {
  const layers = service.protection.map((p) => p.layer);
  const findings: Finding[] = [];
  // Snapshots share the thin pool with the data. Dumps land on the NFS server, which is the same
  // machine (and, in the spec's homelab, the same disk) when the host section names it.
  const dumpsOnSameHost = plan.host !== undefined && plan.host.address === plan.nfsServer;
  const outside = layers.filter((l) => l === 'file' || l === 'offsite' || (l === 'dump' && !dumpsOnSameHost));
  if (outside.length === 0) {
    findings.push({ path: `services.${service.id}`, message: `no copy outside its own disk: its ${layers.join(' and ')} copies live on the host that holds the data (${plan.nfsServer}); add a file backup or an offsite copy` });
  }
  if (service.critical && !layers.includes('offsite')) {
    findings.push({ path: `services.${service.id}`, message: 'marked critical but has no offsite copy: put its backup directory under one of host.offsite.sources, or declare the host offsite sync' });
  }
  return findings;
}

function checkHost(plan: BackupPlan): Finding[] {
  const host = plan.host;
  const snapshots = host?.jobs.find((j) => j.name === 'lvm-pvc-snapshot');
  if (!host || !snapshots) return [];
  const schedule = snapshots.schedule;
  const retention = host.snapshots.retention;
  const findings: Finding[] = [];
  if (host.acceptUnknownHostKey) {
    findings.push({ path: 'host.acceptUnknownHostKey', message: `the deploy connects to ${host.address} without checking its SSH host key and runs install.sh as root on whatever answers; pin host.hostKey (ssh-keyscan -t ed25519 ${host.address})` });
  }
  // No key in the policy is no finding: it may come from TF_VAR_host_ssh_host_key (a CI secret),
  // and Terraform refuses the deploy at plan time while neither holds one.
  if (retention.totalSeconds < 2 * schedule.longestGap.totalSeconds) {
    findings.push({ path: 'host.snapshots.retention', message: `keeps snapshots ${retention.toHuman()} while they are taken up to ${schedule.longestGap.toHuman()} apart: fewer than two remain; keep at least ${schedule.longestGap.times(2).toHuman()}` });
  }
  return findings;
}

/** Root jobs are an exception the policy declares with a reason; lint names each one. */
function rootWarnings(plan: BackupPlan): Warning[] {
  return plan.services
    .filter((s) => s.rootReason !== undefined)
    .map((s): Warning => ({ severity: 'warning', path: `services.${s.id}.runAsRoot`, message: `its jobs run as root: ${s.rootReason}` }))
    .concat(
      // A restore that must write the server's own root-owned files (etcd's data directory on the
      // node) runs as root only when someone renders it; it is still named here, with the reason.
      plan.services
        .filter((s) => s.restore?.pod.runAsUser === 0)
        .map((s): Warning => ({ severity: 'warning', path: `services.${s.id}`, message: `its restore Job runs as root: ${s.restore?.pod.rootReason ?? 'no reason given'}` })),
    );
}

/** A tag can be moved to other bytes; a digest cannot. */
function imageWarnings(plan: BackupPlan): Warning[] {
  const tagOnly = (pick: (service: PlannedService) => string[]) => {
    const byImage = new Map<string, string[]>();
    for (const service of plan.services) {
      for (const image of new Set(pick(service))) {
        if (!image.includes('@sha256:')) byImage.set(image, [...(byImage.get(image) ?? []), service.id]);
      }
    }
    return [...byImage];
  };
  const warn = (path: string, fix: string) => ([image, services]: [string, string[]]): Warning => ({
    severity: 'warning',
    path,
    message: `${image} is pinned by tag only (used by ${services.join(', ')}): a tag can be pushed again with other contents; pin the digest the image workflow prints (${fix})`,
  });
  return [
    ...tagOnly((s) => s.jobs.map((j) => j.image)).map(warn('images', 'images: { <engine>: "<repository>@sha256:<digest>" }')),
    ...tagOnly((s) => s.drills.map((d) => d.image)).map(warn('drills.image', 'drills: { image: "<repository>@sha256:<digest>" }')),
  ];
}

/** One reference year: the checks must not change with the clock. */
const DST_FROM = new Date('2026-01-01T00:00:00Z');
const DST_TO = new Date('2027-01-01T00:00:00Z');

interface ZonedJob {
  path: string;
  name: string;
  schedule: Schedule;
  timeZone: string;
  /** What a skipped run loses. */
  output: 'copy' | 'drill';
}

function zonedJobs(plan: BackupPlan): ZonedJob[] {
  return [
    ...plan.services.flatMap((s) => s.jobs.map((j): ZonedJob => ({ path: `services.${s.id}`, name: j.name, schedule: j.schedule, timeZone: j.timeZone, output: 'copy' }))),
    ...plan.services.flatMap((s) => s.drills.map((d): ZonedJob => ({ path: `services.${s.id}.drill.schedule`, name: d.name, schedule: d.schedule, timeZone: d.timeZone, output: 'drill' }))),
    ...(plan.host?.jobs.map((j): ZonedJob => ({ path: `host.${j.name}`, name: j.name, schedule: j.schedule, timeZone: plan.host!.timeZone, output: 'copy' })) ?? []),
  ];
}

function dstProblems(job: ZonedJob, kind: 'gap' | 'overlap') {
  return job.schedule.dstProblems(job.timeZone, DST_FROM, DST_TO).filter((p) => p.kind === kind);
}

/** Jobs that run at most daily: a skipped run is a whole period without a copy. */
const rare = (job: ZonedJob) => job.schedule.shortestGap.totalSeconds >= 86400;

function gapMessage(job: ZonedJob, localTime: string): string {
  return `${job.name} ("${job.schedule.source}") runs at ${localTime} ${job.timeZone}, a time the clock skips (daylight saving): the Kubernetes CronJob controller and systemd both skip that run${rare(job) ? `, leaving ${job.schedule.longestGap.times(2).toHuman()} without a ${job.output} once a year` : ''}; schedule it outside the switch hour`;
}

/**
 * A run whose local time falls in a spring-forward gap is skipped by both the Kubernetes CronJob
 * controller (robfig/cron) and systemd: a weekly job then leaves a two-week hole once a year. For
 * jobs that run at most daily that is a finding; more frequent jobs lose one run of many (a warning).
 */
function checkDstGaps(plan: BackupPlan): Finding[] {
  return zonedJobs(plan)
    .filter(rare)
    .flatMap((job) => dstProblems(job, 'gap').slice(0, 1).map((p) => ({ path: job.path, message: gapMessage(job, p.localTime) })));
}

function dstWarnings(plan: BackupPlan): Warning[] {
  return zonedJobs(plan).flatMap((job) => [
    ...(rare(job) ? [] : dstProblems(job, 'gap').slice(0, 1).map((p) => ({ severity: 'warning' as const, path: job.path, message: gapMessage(job, p.localTime) }))),
    ...dstProblems(job, 'overlap')
      .slice(0, 1)
      .map((p) => ({ severity: 'warning' as const, path: job.path, message: `${job.name} ("${job.schedule.source}") runs at ${p.localTime} ${job.timeZone}, an hour the clock repeats (daylight saving): it may run twice, or an hour off its usual gap` })),
  ]);
}

/** Warnings: printed by lint, never a failure. */
export function lintWarnings(plan: BackupPlan): Warning[] {
  return [...rootWarnings(plan), ...imageWarnings(plan), ...dstWarnings(plan)];
}

export function lintPlan(plan: BackupPlan): Finding[] {
  return [
    ...plan.services.flatMap((service) => [...checkRpo(service), ...checkRetention(service), ...checkCopies(service, plan), ...checkDrills(service, plan)]),
    ...checkOverlaps(plan),
    ...checkHost(plan),
    ...checkDstGaps(plan),
  ];
}
