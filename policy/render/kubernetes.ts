import type { EnvVar, PodVolume } from '../engines/engine';
import type { PlannedDrill, PlannedJob, PlannedService } from '../plan/plan';

/**
 * Pure renderers: plan -> plain objects in the shape of the kubernetes provider's constructor
 * configs (camelCase, single nested blocks as objects, repeated blocks as arrays). No cdktf
 * import here; the constructs only pass these objects on.
 */

/** Labels on everything the policy creates; `service` is omitted on policy-wide objects. */
export function labels(service: string | undefined, component: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'backup-policy',
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/managed-by': 'backup-policy',
    ...(service ? { 'backup-policy/service': service } : {}),
  };
}

function renderEnv(env: EnvVar) {
  if (env.secret) {
    return { name: env.name, valueFrom: { secretKeyRef: { name: env.secret.name, key: env.secret.key } } };
  }
  return { name: env.name, value: env.value ?? '' };
}

function renderVolume(volume: PodVolume) {
  if ('claimName' in volume) {
    return { name: volume.name, persistentVolumeClaim: { claimName: volume.claimName, readOnly: volume.readOnly ?? false } };
  }
  if ('configMap' in volume) {
    return { name: volume.name, configMap: { name: volume.configMap, defaultMode: volume.defaultMode } };
  }
  if ('emptyDir' in volume) {
    return { name: volume.name, emptyDir: { sizeLimit: volume.emptyDir.sizeLimit } };
  }
  if ('hostPath' in volume) {
    return { name: volume.name, hostPath: { path: volume.hostPath.path, type: volume.hostPath.type } };
  }
  return { name: volume.name, secret: { secretName: volume.secret, defaultMode: volume.defaultMode } };
}

/**
 * Every job container's security, backups and restores alike: read-only root, no privilege
 * escalation, every capability dropped (the backup contract, point 8).
 */
export const CONTAINER_SECURITY = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  privileged: false,
  capabilities: { drop: ['ALL'] },
} as const;

/** A backup job's CronJob, or a restore drill's (the same pod rules; its own labels and container name). */
export function renderCronJob(job: PlannedJob | PlannedDrill) {
  const drill = 'drills' in job;
  const jobLabels = { ...labels(job.service, drill ? 'restore-drill' : 'backup-job'), 'backup-policy/kind': job.kind };
  const nonRoot = job.runAsUser !== 0;
  return {
    metadata: { name: job.name, namespace: job.namespace, labels: jobLabels },
    spec: {
      schedule: job.schedule.cron,
      timezone: job.timeZone,
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: job.startingDeadlineSeconds,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: job.failedJobsHistoryLimit,
      jobTemplate: {
        metadata: { labels: jobLabels },
        spec: {
          // One retry covers a transient failure; the lock and Forbid keep attempts serial.
          backoffLimit: 1,
          activeDeadlineSeconds: job.timeout.totalSeconds,
          template: {
            metadata: { labels: jobLabels },
            spec: {
              restartPolicy: 'Never',
              automountServiceAccountToken: false,
              enableServiceLinks: false,
              hostNetwork: job.placement?.hostNetwork ?? false,
              // On the node's network the pod would use the node's resolver, which cannot resolve
              // *.svc.cluster.local: every metrics push would fail (found by the harness).
              ...(job.placement?.hostNetwork ? { dnsPolicy: 'ClusterFirstWithHostNet' } : {}),
              ...(job.placement?.nodeSelector ? { nodeSelector: job.placement.nodeSelector } : {}),
              ...(job.placement?.tolerations ? { toleration: job.placement.tolerations } : {}),
              securityContext: {
                runAsNonRoot: nonRoot,
                runAsUser: String(job.runAsUser),
                runAsGroup: String(job.runAsUser),
                // The kubelet makes Secret files group-readable only for the pod's fsGroup; without
                // it a non-root job cannot read its mounted client certificate. NFS volumes are
                // never chowned by the kubelet, so backups keep their owner.
                fsGroup: String(job.runAsUser),
                seccompProfile: { type: 'RuntimeDefault' },
              },
              container: [
                {
                  name: drill ? 'drill' : 'backup',
                  image: job.image,
                  imagePullPolicy: 'IfNotPresent',
                  command: job.command,
                  env: job.env.map(renderEnv),
                  volumeMount: job.mounts.map((m) => ({ name: m.name, mountPath: m.mountPath, readOnly: m.readOnly })),
                  resources: {
                    requests: { ...job.resources.requests },
                    limits: { ...job.resources.limits },
                  },
                  securityContext: { ...CONTAINER_SECURITY, capabilities: { drop: [...CONTAINER_SECURITY.capabilities.drop] } },
                },
              ],
              volume: job.volumes.map(renderVolume),
            },
          },
        },
      },
    },
  };
}

/**
 * Script files as ConfigMap data, as plain text: the constructs' Terraform boundary
 * (constructs/terraform-boundary.ts) escapes every string once, these included.
 */
export function renderScriptConfigMap(service: PlannedService, readScript: (name: string) => string) {
  const data: Record<string, string> = {};
  for (const file of service.scripts.files) data[file] = readScript(file);
  return {
    metadata: { name: service.scripts.configMapName, namespace: service.namespace, labels: labels(service.id, 'backup-scripts') },
    data,
  };
}

export function renderPersistentVolume(service: PlannedService) {
  const v = service.volume;
  return {
    metadata: { name: v.pvName, labels: labels(service.id, 'backup-volume') },
    // The provider models this spec as a repeated block, hence the one-element list.
    spec: [
      {
        capacity: { storage: v.capacity },
        accessModes: ['ReadWriteMany'],
        // Retain: deleting the claim (or the service from the policy) must never delete backups.
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: '',
        mountOptions: v.mountOptions,
        persistentVolumeSource: { nfs: { server: v.server, path: v.path, readOnly: false } },
      },
    ],
  };
}

export function renderPersistentVolumeClaim(service: PlannedService) {
  const v = service.volume;
  return {
    metadata: { name: v.pvcName, namespace: v.namespace, labels: labels(service.id, 'backup-volume') },
    spec: {
      accessModes: ['ReadWriteMany'],
      storageClassName: '',
      volumeName: v.pvName,
      resources: { requests: { storage: v.capacity } },
    },
  };
}
