import { Construct } from 'constructs';
import { App, LocalBackend, TerraformStack } from 'cdktf';
import { KubernetesProvider } from '@cdktf/provider-kubernetes/lib/provider';
import { CronJobV1 } from '@cdktf/provider-kubernetes/lib/cron-job-v1';
import { ConfigMapV1 } from '@cdktf/provider-kubernetes/lib/config-map-v1';
import { PersistentVolumeV1 } from '@cdktf/provider-kubernetes/lib/persistent-volume-v1';
import { PersistentVolumeClaimV1 } from '@cdktf/provider-kubernetes/lib/persistent-volume-claim-v1';
import { Manifest } from '@cdktf/provider-kubernetes/lib/manifest';
import { readPassThroughManifests } from './compare-output';
import { CAPACITY, IMAGE, MOUNT_OPTIONS, flatServices, labels, loadScripts, type FlatEnv, type FlatService, type FlatVolume } from './flat-services';
import { SETTINGS, parseTarget, stackIdFor } from './generate-policy';

/**
 * The baseline: a plain cdktf program that creates the same resources as our path, straight from
 * the provider classes, with no policy parsing, planning or rendering. The construct ids mirror
 * ours (stack / policy / <service> / volume|claim|scripts|<kind>) so the logical ids, and with
 * them the whole cdk.tf.json, come out identical; run.ts checks that.
 *
 * usage: node dist/bench/synth-bare.js <homelab|N> <outdir> [manifests.json]
 * (manifests.json: the alert rules as data, see passThroughManifests in compare-output.ts)
 */

function env(e: FlatEnv) {
  return e.secret ? { name: e.name, valueFrom: { secretKeyRef: { name: e.secret.name, key: e.secret.key } } } : { name: e.name, value: e.value ?? '' };
}

function extraVolume(v: FlatVolume) {
  return 'claimName' in v
    ? { name: v.name, persistentVolumeClaim: { claimName: v.claimName, readOnly: false } }
    : { name: v.name, secret: { secretName: v.secretName, defaultMode: v.defaultMode } };
}

function addService(scope: Construct, s: FlatService, scripts: Map<string, string>): void {
  const group = new Construct(scope, s.id);
  const volumeLabels = labels(s.id, 'backup-volume');
  const volume = new PersistentVolumeV1(group, 'volume', {
    metadata: { name: `${s.id}-backup`, labels: volumeLabels },
    spec: [
      {
        capacity: { storage: CAPACITY },
        accessModes: ['ReadWriteMany'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: '',
        mountOptions: MOUNT_OPTIONS,
        persistentVolumeSource: { nfs: { server: SETTINGS.nfsServer, path: s.nfsPath, readOnly: false } },
      },
    ],
  });
  const claim = new PersistentVolumeClaimV1(group, 'claim', {
    metadata: { name: `${s.id}-backup`, namespace: s.namespace, labels: volumeLabels },
    spec: {
      accessModes: ['ReadWriteMany'],
      storageClassName: '',
      volumeName: `${s.id}-backup`,
      resources: { requests: { storage: CAPACITY } },
    },
    waitUntilBound: false,
    dependsOn: [volume],
  });
  const configMap = new ConfigMapV1(group, 'scripts', {
    metadata: { name: `${s.id}-backup-scripts`, namespace: s.namespace, labels: labels(s.id, 'backup-scripts') },
    data: Object.fromEntries(s.scripts.map((name) => [name, scripts.get(name)!])),
  });
  const nonRoot = s.runAsUser !== 0;
  for (const j of s.jobs) {
    const jobLabels = { ...labels(s.id, 'backup-job'), 'backup-policy/kind': j.kind };
    new CronJobV1(group, j.kind, {
      metadata: { name: j.name, namespace: s.namespace, labels: jobLabels },
      spec: {
        schedule: j.cron,
        timezone: SETTINGS.timeZone,
        concurrencyPolicy: 'Forbid',
        startingDeadlineSeconds: j.startingDeadlineSeconds,
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: j.failedJobsHistoryLimit,
        jobTemplate: {
          metadata: { labels: jobLabels },
          spec: {
            backoffLimit: 1,
            activeDeadlineSeconds: j.activeDeadlineSeconds,
            template: {
              metadata: { labels: jobLabels },
              spec: {
                restartPolicy: 'Never',
                automountServiceAccountToken: false,
                enableServiceLinks: false,
                hostNetwork: s.hostNetwork,
                ...(s.hostNetwork ? { dnsPolicy: 'ClusterFirstWithHostNet' } : {}),
                ...(s.nodeSelector ? { nodeSelector: s.nodeSelector } : {}),
                ...(s.tolerations ? { toleration: s.tolerations } : {}),
                securityContext: {
                  runAsNonRoot: nonRoot,
                  runAsUser: String(s.runAsUser),
                  runAsGroup: String(s.runAsUser),
                  fsGroup: String(s.runAsUser),
                  seccompProfile: { type: 'RuntimeDefault' },
                },
                container: [
                  {
                    name: 'backup',
                    image: IMAGE,
                    imagePullPolicy: 'IfNotPresent',
                    command: j.command,
                    env: j.env.map(env),
                    volumeMount: [
                      ...(j.kind === 'integrity' ? [] : [{ name: 'backup', mountPath: '/backup', readOnly: false }]),
                      { name: 'scripts', mountPath: '/opt/backup-policy', readOnly: true },
                      { name: 'tmp', mountPath: '/tmp', readOnly: false },
                      ...s.extraMounts,
                    ],
                    resources: s.resources,
                    securityContext: {
                      allowPrivilegeEscalation: false,
                      readOnlyRootFilesystem: true,
                      privileged: false,
                      capabilities: { drop: ['ALL'] },
                    },
                  },
                ],
                volume: [
                  ...(j.kind === 'integrity' ? [] : [{ name: 'backup', persistentVolumeClaim: { claimName: `${s.id}-backup`, readOnly: false } }]),
                  { name: 'scripts', configMap: { name: `${s.id}-backup-scripts`, defaultMode: '0555' } },
                  { name: 'tmp', emptyDir: { sizeLimit: s.scratchSize } },
                  ...s.extraVolumes.map(extraVolume),
                ],
              },
            },
          },
        },
      },
      dependsOn: [claim, configMap],
    });
  }
}

/** The construct at `path` below `root`, created as plain Constructs where missing. */
function scopeAt(root: Construct, path: string[]): Construct {
  let scope = root;
  for (const id of path) scope = (scope.node.tryFindChild(id) as Construct | undefined) ?? new Construct(scope, id);
  return scope;
}

function main(argv: string[]): void {
  const [targetArg, outDir, manifestsFile] = argv;
  if (!outDir) throw new Error('usage: synth-bare.js <homelab|N> <outdir> [manifests.json]');
  const target = parseTarget(targetArg);
  const stackId = stackIdFor(target);
  const services = flatServices(target);
  const scripts = loadScripts(services.flatMap((s) => s.scripts));
  const app = new App({ outdir: outDir });
  const stack = new TerraformStack(app, stackId);
  new LocalBackend(stack, { path: `../../../terraform-state/${stackId}.tfstate` });
  new KubernetesProvider(stack, 'kubernetes', {});
  const policy = new Construct(stack, 'policy');
  for (const s of services) addService(policy, s, scripts);
  for (const { path, manifest } of readPassThroughManifests(manifestsFile)) {
    new Manifest(scopeAt(stack, path.slice(0, -1)), path[path.length - 1], { manifest: manifest as Record<string, unknown> });
  }
  app.synth();
}

main(process.argv.slice(2));
