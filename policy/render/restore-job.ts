import { POD_PATHS, type EnvVar, type JobKind, type PodVolume, type RestoreRetarget, type VolumeMount } from '../engines/engine';
import type { PlannedJob, PlannedService } from '../plan/plan';
import { CONTAINER_SECURITY, labels } from './kubernetes';

/** What the person restoring chose: which copy, which database, whether existing data may go. */
export interface RestoreRequest {
  mode: JobKind;
  /** A file name under the backup directory, or "latest" (the newest verified copy). */
  copy: string;
  /** Per-database restores: the database (any name the engine allows). */
  database?: string;
  /** Replace existing data; without it the script refuses and says what it would replace. */
  overwrite: boolean;
  /** Where to restore instead of the policy's own server or volume (the service's `retarget` form). */
  target?: string;
}

const TARGET_FORMS: Record<RestoreRetarget['form'], { shape: string; valid: (t: string) => boolean }> = {
  'host:port': {
    shape: 'host:port (a DNS name or IPv4 address, a port 1-65535)',
    valid: (t) => {
      const m = /^([A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):([0-9]{1,5})$/.exec(t);
      return m !== null && !m[1].includes('..') && Number(m[3]) >= 1 && Number(m[3]) <= 65535;
    },
  },
  url: { shape: 'an http:// or https:// URL without credentials', valid: (t) => /^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[A-Za-z0-9._~\/-]*)?$/.test(t) },
  claim: { shape: 'a PersistentVolumeClaim name (DNS label)', valid: (t) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(t) },
  path: {
    shape: 'an absolute, normalized directory on the node',
    valid: (t) => /^\/[A-Za-z0-9._@+\/-]*$/.test(t) && !t.split('/').some((p, i) => i > 0 && (p === '' || p === '.' || p === '..')) && t !== '/',
  },
};

/** What --target means for this service, for help and errors. */
export function restoreTargetShape(service: PlannedService): string | undefined {
  const form = service.restore?.retarget?.form;
  return form ? TARGET_FORMS[form].shape : undefined;
}

/** Why a restore cannot be rendered for this service and request, or undefined when it can. */
export function restoreProblem(service: PlannedService, request: RestoreRequest): string | undefined {
  if (!service.restore) return `${service.id} (${service.engine}) has no restore Job yet; follow its runbook (docs/runbooks/${service.id}.md)`;
  if (!service.restore.modes.includes(request.mode)) return `${service.id} restores ${service.restore.modes.join(' or ')}, not ${request.mode}`;
  if (request.mode === 'per-database' && !request.database) return 'a per-database restore needs --database <name>';
  if (request.mode !== 'per-database' && request.database) return `--database applies to per-database restores, not ${request.mode}`;
  if (request.copy !== 'latest' && (request.copy.startsWith('/') || request.copy.split('/').includes('..') || /[\0\n]/.test(request.copy))) {
    return `--copy is a file name under the backup directory (as ls ${service.volume.path} shows it) or "latest", received "${request.copy}"`;
  }
  if (request.target !== undefined) {
    const retarget = service.restore.retarget;
    if (!retarget) return `${service.id} (${service.engine}) restores only where the policy points; --target does not apply`;
    if (!TARGET_FORMS[retarget.form].valid(request.target)) return `--target for ${service.id} is ${TARGET_FORMS[retarget.form].shape}, received "${request.target}"`;
  }
  return undefined;
}

/** The environment and volumes of the backup pod, pointed at --target. */
function retargeted(retarget: RestoreRetarget | undefined, target: string | undefined, env: EnvVar[], volumes: PodVolume[]): { env: EnvVar[]; volumes: PodVolume[] } {
  if (!retarget || target === undefined) return { env, volumes };
  const set = (values: Record<string, string>) => env.map((e) => (e.name in values ? { name: e.name, value: values[e.name] } : e));
  switch (retarget.form) {
    case 'host:port': {
      const at = target.lastIndexOf(':');
      return { env: set({ [retarget.hostVariable]: target.slice(0, at), [retarget.portVariable]: target.slice(at + 1) }), volumes };
    }
    case 'url':
      return { env: set({ [retarget.variable]: target }), volumes };
    case 'claim':
      return { env, volumes: volumes.map((v) => (v.name === retarget.volume && 'claimName' in v ? { ...v, claimName: target } : v)) };
    case 'path':
      return { env, volumes: volumes.map((v) => (v.name === retarget.volume && 'hostPath' in v ? { ...v, hostPath: { ...v.hostPath, path: target } } : v)) };
  }
}

/** The restore Job's name: its service, mode and the time it was made (Jobs are immutable). */
export function restoreJobName(service: PlannedService, mode: JobKind, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').toLowerCase();
  return `${service.id}-restore-${mode === 'per-database' ? 'db' : mode}-${stamp}`.slice(0, 63).replace(/-+$/, '');
}

function env(e: EnvVar) {
  return e.secret ? { name: e.name, valueFrom: { secretKeyRef: { name: e.secret.name, key: e.secret.key } } } : { name: e.name, value: e.value ?? '' };
}

function volume(v: PodVolume) {
  if ('claimName' in v) return { name: v.name, persistentVolumeClaim: { claimName: v.claimName, readOnly: v.name === 'backup' ? true : (v.readOnly ?? false) } };
  if ('configMap' in v) return { name: v.name, configMap: { name: v.configMap, defaultMode: parseInt(v.defaultMode, 8) } };
  if ('emptyDir' in v) return { name: v.name, emptyDir: { sizeLimit: v.emptyDir.sizeLimit } };
  if ('hostPath' in v) return { name: v.name, hostPath: { path: v.hostPath.path, type: v.hostPath.type } };
  return { name: v.name, secret: { secretName: v.secret, defaultMode: parseInt(v.defaultMode, 8) } };
}

/**
 * A Kubernetes Job (API form, for `kubectl apply -f -`) that restores one copy. Rendered from the
 * backup job of the same kind: the same image, the same Secret references and environment, the
 * same scripts ConfigMap and pod security; the backup volume mounted read-only. The script it runs
 * keeps the restore contract of host-scripts/CONTRACT.md.
 */
export function renderRestoreJob(service: PlannedService, request: RestoreRequest, now: Date) {
  const problem = restoreProblem(service, request);
  if (problem) throw new Error(problem);
  const backup = service.jobs.find((j) => j.kind === request.mode) as PlannedJob;
  const name = restoreJobName(service, request.mode, now);
  const jobLabels = { ...labels(service.id, 'restore-job'), 'backup-policy/kind': `restore-${request.mode}` };
  const pod = service.restore!.pod;
  const runAsUser = pod.runAsUser ?? backup.runAsUser;
  const nonRoot = runAsUser !== 0;
  // The restore's own volumes come after the backup pod's; a name both use is the restore's.
  const ownNames = new Set(pod.volumes.map((v) => v.name));
  const { env: targetEnv, volumes } = retargeted(service.restore!.retarget, request.target, backup.env, [
    ...backup.volumes.filter((v) => !ownNames.has(v.name)),
    ...pod.volumes,
  ]);
  const mounts: VolumeMount[] = [...backup.mounts.filter((m) => !ownNames.has(m.name)), ...pod.mounts];
  const extraEnv = pod.env ?? [];
  const restoreEnv: EnvVar[] = [
    ...targetEnv.filter((e) => e.name !== 'BACKUP_KIND' && !extraEnv.some((x) => x.name === e.name)),
    ...extraEnv,
    { name: 'BACKUP_KIND', value: `restore-${request.mode}` },
    { name: 'RESTORE_COPY', value: request.copy },
    ...(request.database !== undefined ? [{ name: 'RESTORE_DATABASE', value: request.database }] : []),
    { name: 'RESTORE_OVERWRITE', value: request.overwrite ? 'yes' : '' },
  ];
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: service.namespace, labels: jobLabels },
    spec: {
      // A restore is run once and read: a retry could start over data the first attempt changed.
      backoffLimit: 0,
      activeDeadlineSeconds: backup.timeout.totalSeconds,
      template: {
        metadata: { labels: jobLabels },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          hostNetwork: backup.placement?.hostNetwork ?? false,
          ...(backup.placement?.hostNetwork ? { dnsPolicy: 'ClusterFirstWithHostNet' } : {}),
          ...(backup.placement?.nodeSelector ? { nodeSelector: backup.placement.nodeSelector } : {}),
          ...(backup.placement?.tolerations ? { tolerations: backup.placement.tolerations } : {}),
          securityContext: {
            runAsNonRoot: nonRoot,
            runAsUser,
            runAsGroup: runAsUser,
            fsGroup: pod.fsGroup ?? runAsUser,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'restore',
              image: backup.image,
              imagePullPolicy: 'IfNotPresent',
              command: ['/bin/bash', `${POD_PATHS.scripts}/${service.restore!.script}`, request.mode],
              env: restoreEnv.map(env),
              // The copies are only read: a restore can never damage the backups it reads.
              volumeMounts: mounts.map((m) => ({ name: m.name, mountPath: m.mountPath, readOnly: m.name === 'backup' ? true : m.readOnly })),
              resources: { requests: { ...backup.resources.requests }, limits: { ...backup.resources.limits } },
              securityContext: { ...CONTAINER_SECURITY, capabilities: { drop: [...CONTAINER_SECURITY.capabilities.drop] } },
            },
          ],
          volumes: volumes.map(volume),
        },
      },
    },
  };
}

export type RestoreJob = ReturnType<typeof renderRestoreJob>;

function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./=:@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The same restore for a person at a terminal: the Job above, applied and followed with kubectl.
 * What runs is the Job's command with the Job's environment; nothing here restores by other means.
 */
export function renderRestoreCommands(job: RestoreJob, manifestYaml: string): string {
  const { name, namespace } = job.metadata;
  const container = job.spec.template.spec.containers[0];
  return [
    `# Restores with: ${container.command.map(shellQuote).join(' ')}`,
    `#   in ${container.image}, ${container.env.filter((e) => e.name.startsWith('RESTORE_')).map((e) => `${e.name}=${shellQuote(('value' in e ? e.value : undefined) ?? '')}`).join(' ')}`,
    `#   reading the backup volume ${job.spec.template.spec.volumes.find((v) => v.name === 'backup') ? 'read-only at /backup' : ''}`.trimEnd(),
    `kubectl apply -f - <<'BACKUP_POLICY_RESTORE_JOB'`,
    manifestYaml.trimEnd(),
    'BACKUP_POLICY_RESTORE_JOB',
    // logs waits for the pod to start and follows it to the end; the Job's status says how it ended.
    `kubectl -n ${namespace} logs -f --pod-running-timeout=10m job/${name}`,
    `test "$(kubectl -n ${namespace} get job/${name} -o jsonpath='{.status.succeeded}')" = 1 && echo "restore succeeded" || { echo "restore failed: kubectl -n ${namespace} describe job/${name}" >&2; false; }`,
    '',
  ].join('\n');
}
