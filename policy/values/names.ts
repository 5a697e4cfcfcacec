/**
 * Every Kubernetes, unit and alert name comes from here, so the rules live in one place.
 * DNS-1123 labels: lowercase alphanumerics and '-', starting and ending alphanumeric.
 */
export const DNS_LABEL_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS_LABEL_MAX = 63;
/**
 * The CronJob controller appends an 11-character suffix ("-" + a 10-digit schedule time) to
 * the Jobs it creates, and Job names are labels (63), so CronJob names are limited to 52.
 */
export const CRONJOB_NAME_MAX = 52;

export type NamedKind = 'CronJob' | 'ConfigMap' | 'PersistentVolume' | 'PersistentVolumeClaim';

const MAX_BY_KIND: Record<NamedKind, number> = {
  CronJob: CRONJOB_NAME_MAX,
  ConfigMap: DNS_LABEL_MAX,
  PersistentVolume: DNS_LABEL_MAX,
  PersistentVolumeClaim: DNS_LABEL_MAX,
};

/** Why a name is unusable for a kind, or undefined when it is fine. */
export function nameProblem(kind: NamedKind, name: string): string | undefined {
  if (!DNS_LABEL_PATTERN.test(name)) {
    return `${kind} name "${name}" is not a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit)`;
  }
  const max = MAX_BY_KIND[kind];
  if (name.length > max) {
    return `${kind} name "${name}" is ${name.length} characters, at most ${max} are allowed`;
  }
  return undefined;
}

/** Suffixes of the names derived from a service id; the longest bounds the id's length. */
export const JOB_NAME_SUFFIXES = {
  full: '-full-backup',
  'per-database': '-per-db-backup',
  snapshot: '-backup',
  integrity: '-integrity-check',
} as const;

/**
 * Restore drills: one CronJob per service and kind of copy it drills (issue "restore drills").
 * Kept apart from JOB_NAME_SUFFIXES, whose keys are the backup job kinds.
 */
export const DRILL_NAME_SUFFIXES = {
  full: '-full-drill',
  'per-database': '-per-db-drill',
  snapshot: '-drill',
  integrity: '-integrity-drill',
} as const;

export function drillCronJobName(serviceId: string, kind: keyof typeof DRILL_NAME_SUFFIXES): string {
  return `${serviceId}${DRILL_NAME_SUFFIXES[kind]}`;
}

export function cronJobName(serviceId: string, kind: keyof typeof JOB_NAME_SUFFIXES): string {
  return `${serviceId}${JOB_NAME_SUFFIXES[kind]}`;
}

export function backupVolumeName(serviceId: string): string {
  return `${serviceId}-backup`;
}

export function scriptConfigMapName(serviceId: string): string {
  return `${serviceId}-backup-scripts`;
}
