import { z } from 'zod';
import { SAFE_PATH, SAFE_PATH_ALLOWED, normalizeAbsolutePath } from '../values/path';
import { custom, dnsLabel, imageSchema, scheduleSchema, labelKeySchema, labelValueSchema, quantitySchema, hostSchema, show, timeZoneSchema, urlSchema } from '../schema/fields';
import { hostSectionSchema } from '../schema/host';
import { ENGINES, serviceSchema, type Engine } from '../engines/registry';
import { DRILL_NAME_SUFFIXES, JOB_NAME_SUFFIXES, CRONJOB_NAME_MAX } from '../values/names';

/** Service ids become name prefixes; the longest derived CronJob name must still fit. */
export const SERVICE_ID_MAX = CRONJOB_NAME_MAX - Math.max(...[...Object.values(JOB_NAME_SUFFIXES), ...Object.values(DRILL_NAME_SUFFIXES)].map((s) => s.length));
export const serviceIdSchema = dnsLabel('service id', SERVICE_ID_MAX);

/** Free text that reaches alert labels: printable, no control characters. */
const channelSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._#@-]{0,99}$/, {
  error: (iss) => `not a routing channel name, received ${show(iss.input)}, allowed: letters, digits and . _ # @ -, at most 100 characters`,
});

/** A reviewer reads this in the coverage report: one line of printable text. */
const coverageReasonSchema = z.string().regex(/^[^\x00-\x1f\x7f|]{3,300}$/, {
  error: (iss) => `not a reason a reviewer can read, received ${show(iss.input)}, allowed: 3-300 printable characters, no "|" (it ends a table cell)`,
});

export const policySchema = z.strictObject({
  timeZone: timeZoneSchema.meta({ description: 'Rendered into every CronJob timeZone and systemd OnCalendar.' }),
  nfs: z.strictObject({
    server: hostSchema,
    pathTemplate: z
      .string()
      .superRefine((text, ctx) => {
        const withoutPlaceholder = text.replace('{service}', 'x');
        if (text.split('{service}').length !== 2 || !text.startsWith('/') || !SAFE_PATH.test(withoutPlaceholder) || typeof normalizeAbsolutePath(withoutPlaceholder) !== 'string') {
          custom(ctx, text, `not a usable path template, received ${show(text)}, allowed: an absolute path containing {service} once, made of ${SAFE_PATH_ALLOWED}`);
        }
      })
      .default('/srv/nfs/{service}-backup')
      .meta({ description: 'Where each service\'s backup directory is exported. @default "/srv/nfs/{service}-backup"' }),
    mountOptions: z.array(z.string().regex(/^[a-z0-9_.=,-]+$/)).default(['hard', 'nfsvers=4.1']),
    capacity: quantitySchema.default('100Gi'),
  }),
  pushgateway: z.strictObject({ url: urlSchema }),
  alerts: z
    .strictObject({
      deploy: z.enum(['prometheus-rule', 'configmap'], {
        error: (iss) => `unknown deployment form, received ${show(iss.input)}, allowed: "prometheus-rule" (kube-prometheus-stack) or "configmap" (plain Prometheus)`,
      }).default('prometheus-rule'),
      namespace: dnsLabel('namespace').default('monitoring'),
      ruleLabels: z.record(labelKeySchema, labelValueSchema).default({ release: 'kube-prometheus-stack' }).meta({ description: 'Labels on the PrometheusRule/ConfigMap so the Prometheus instance selects it.' }),
      runbookBaseUrl: urlSchema.optional().meta({ description: 'runbook_url of every alert is <base>/<service>.md. @default none: runbook_url is the runbook\'s path in this repository (docs/runbooks/<service>.md)' }),
      channels: z.strictObject({ warning: channelSchema, critical: channelSchema }).default({ warning: 'infra-alerts', critical: 'infra-critical' }).meta({ description: 'The `channel` label routing uses, per severity.' }),
    })
    // prefault: an omitted section is parsed as {} so each field's own default applies.
    .prefault({}),
  images: z.partialRecord(z.enum(ENGINES as [Engine, ...Engine[]]), imageSchema).default({}).meta({ description: 'Per-engine image overrides. @default the pinned backup-tools image' }),
  services: z.record(serviceIdSchema, serviceSchema),
  coverage: z
    .strictObject({
      exclude: z
        .array(
          z.strictObject({
            namespace: dnsLabel('namespace'),
            claim: dnsLabel('PersistentVolumeClaim name', 253).optional().meta({ description: 'One PVC of the namespace. @default every PVC of the namespace' }),
            reason: coverageReasonSchema.meta({ description: 'Why no backup is needed, shown beside the PVC in the coverage report.' }),
          }),
        )
        .default([]),
    })
    .prefault({})
    .meta({ description: 'PVCs deliberately left without a backup (`lint --pvcs`): each exclusion names a namespace or one PVC, and why.' }),
  drills: z
    .strictObject({
      schedule: scheduleSchema.meta({ description: 'When every service (that does not opt out) drills, in the policy\'s time zone: a quiet hour, after the night\'s backups.' }),
      image: imageSchema.optional().meta({ description: '@default the pinned backup-drill image' }),
    })
    .optional()
    .meta({ description: 'Scheduled restore drills of every service (each service can override or opt out with `drill`). @default none: only services with their own drill.schedule drill' }),
  host: hostSectionSchema.optional().meta({ description: 'The Proxmox host layers (snapshots, file backup, offsite sync). @default none: the policy covers only the cluster' }),
});

/** What a policy author writes (defaults optional, durations and schedules as text). */
export type BackupPolicyInput = z.input<typeof policySchema>;
/** The parsed policy: defaults filled in, values instead of text, paths normalized. */
export type ParsedPolicy = z.output<typeof policySchema>;
/** The policy-wide settings, without the services. */
export type PolicySettings = Omit<ParsedPolicy, 'services'>;
export type AlertSettings = ParsedPolicy['alerts'];
