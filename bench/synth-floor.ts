import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CAPACITY, IMAGE, MOUNT_OPTIONS, flatServices, labels, loadScripts, type FlatEnv, type FlatService, type FlatVolume } from './flat-services';
import { SETTINGS, parseTarget, stackIdFor } from './generate-policy';
import { readPassThroughManifests } from './compare-output';

/**
 * The floor: the same Terraform JSON (the same bytes once keys are sorted) written from plain
 * objects with JSON.stringify, no cdktf loaded. Whatever a cdktf program costs beyond this is
 * cdktf's; whatever it costs below is node, file I/O and serialization.
 *
 * usage: node dist/bench/synth-floor.js <homelab|N> <outdir> [manifests.json]
 */

/** The versions cdktf 0.21.0 and @cdktf/provider-kubernetes 12.1.1 write into their output. */
const CDKTF_VERSION = '0.21.0';
const KUBERNETES_PROVIDER_VERSION = '2.38.0';

/** cdktf's logical id (lib/private/unique.js): the readable path, then 8 hex of its md5. */
function logicalId(components: string[]): string {
  const human: string[] = [];
  for (const c of components) if (human.length === 0 || !human[human.length - 1].endsWith(c)) human.push(c);
  const hash = createHash('md5').update(components.join('/')).digest('hex').slice(0, 8).toUpperCase();
  return `${human.map((c) => c.replace(/[^A-Za-z0-9_-]/g, '')).join('_')}_${hash}`;
}

function resource(stackId: string, path: string[], body: Record<string, unknown>): [string, Record<string, unknown>] {
  const uniqueId = logicalId(path);
  return [uniqueId, { '//': { metadata: { path: `${stackId}/${path.join('/')}`, uniqueId } }, ...body }];
}

function env(e: FlatEnv) {
  return e.secret ? { name: e.name, value_from: { secret_key_ref: { name: e.secret.name, key: e.secret.key } } } : { name: e.name, value: e.value ?? '' };
}

function extraVolume(v: FlatVolume) {
  return 'claimName' in v
    ? { name: v.name, persistent_volume_claim: { claim_name: v.claimName, read_only: false } }
    : { name: v.name, secret: { secret_name: v.secretName, default_mode: v.defaultMode } };
}

interface Resources {
  kubernetes_manifest?: Record<string, unknown>;
  kubernetes_config_map_v1: Record<string, unknown>;
  kubernetes_cron_job_v1: Record<string, unknown>;
  kubernetes_persistent_volume_claim_v1: Record<string, unknown>;
  kubernetes_persistent_volume_v1: Record<string, unknown>;
}

function addService(out: Resources, stackId: string, s: FlatService, scripts: Map<string, string>): void {
  const volumeLabels = labels(s.id, 'backup-volume');
  const [volumeId, volume] = resource(stackId, ['policy', s.id, 'volume'], {
    metadata: { name: `${s.id}-backup`, labels: volumeLabels },
    spec: [
      {
        capacity: { storage: CAPACITY },
        access_modes: ['ReadWriteMany'],
        persistent_volume_reclaim_policy: 'Retain',
        storage_class_name: '',
        mount_options: MOUNT_OPTIONS,
        persistent_volume_source: { nfs: { server: SETTINGS.nfsServer, path: s.nfsPath, read_only: false } },
      },
    ],
  });
  out.kubernetes_persistent_volume_v1[volumeId] = volume;
  const [claimId, claim] = resource(stackId, ['policy', s.id, 'claim'], {
    depends_on: [`kubernetes_persistent_volume_v1.${volumeId}`],
    metadata: { name: `${s.id}-backup`, namespace: s.namespace, labels: volumeLabels },
    spec: {
      access_modes: ['ReadWriteMany'],
      storage_class_name: '',
      volume_name: `${s.id}-backup`,
      resources: { requests: { storage: CAPACITY } },
    },
    wait_until_bound: false,
  });
  out.kubernetes_persistent_volume_claim_v1[claimId] = claim;
  const [configMapId, configMap] = resource(stackId, ['policy', s.id, 'scripts'], {
    metadata: { name: `${s.id}-backup-scripts`, namespace: s.namespace, labels: labels(s.id, 'backup-scripts') },
    data: Object.fromEntries(s.scripts.map((name) => [name, scripts.get(name)!])),
  });
  out.kubernetes_config_map_v1[configMapId] = configMap;
  const nonRoot = s.runAsUser !== 0;
  for (const j of s.jobs) {
    const jobLabels = { ...labels(s.id, 'backup-job'), 'backup-policy/kind': j.kind };
    const [jobId, cronJob] = resource(stackId, ['policy', s.id, j.kind], {
      depends_on: [`kubernetes_persistent_volume_claim_v1.${claimId}`, `kubernetes_config_map_v1.${configMapId}`],
      metadata: { name: j.name, namespace: s.namespace, labels: jobLabels },
      spec: {
        schedule: j.cron,
        timezone: SETTINGS.timeZone,
        concurrency_policy: 'Forbid',
        starting_deadline_seconds: j.startingDeadlineSeconds,
        successful_jobs_history_limit: 3,
        failed_jobs_history_limit: j.failedJobsHistoryLimit,
        job_template: {
          metadata: { labels: jobLabels },
          spec: {
            backoff_limit: 1,
            active_deadline_seconds: j.activeDeadlineSeconds,
            template: {
              metadata: { labels: jobLabels },
              spec: {
                restart_policy: 'Never',
                automount_service_account_token: false,
                enable_service_links: false,
                host_network: s.hostNetwork,
                ...(s.hostNetwork ? { dns_policy: 'ClusterFirstWithHostNet' } : {}),
                ...(s.nodeSelector ? { node_selector: s.nodeSelector } : {}),
                ...(s.tolerations ? { toleration: s.tolerations } : {}),
                security_context: {
                  run_as_non_root: nonRoot,
                  run_as_user: String(s.runAsUser),
                  run_as_group: String(s.runAsUser),
                  fs_group: String(s.runAsUser),
                  seccomp_profile: { type: 'RuntimeDefault' },
                },
                container: [
                  {
                    name: 'backup',
                    image: IMAGE,
                    image_pull_policy: 'IfNotPresent',
                    command: j.command,
                    env: j.env.map(env),
                    volume_mount: [
                      ...(j.kind === 'integrity' ? [] : [{ name: 'backup', mount_path: '/backup', read_only: false }]),
                      { name: 'scripts', mount_path: '/opt/backup-policy', read_only: true },
                      { name: 'tmp', mount_path: '/tmp', read_only: false },
                      ...s.extraMounts.map((m) => ({ name: m.name, mount_path: m.mountPath, read_only: m.readOnly })),
                    ],
                    resources: s.resources,
                    security_context: {
                      allow_privilege_escalation: false,
                      read_only_root_filesystem: true,
                      privileged: false,
                      capabilities: { drop: ['ALL'] },
                    },
                  },
                ],
                volume: [
                  ...(j.kind === 'integrity' ? [] : [{ name: 'backup', persistent_volume_claim: { claim_name: `${s.id}-backup`, read_only: false } }]),
                  { name: 'scripts', config_map: { name: `${s.id}-backup-scripts`, default_mode: '0555' } },
                  { name: 'tmp', empty_dir: { size_limit: s.scratchSize } },
                  ...s.extraVolumes.map(extraVolume),
                ],
              },
            },
          },
        },
      },
    });
    out.kubernetes_cron_job_v1[jobId] = cronJob;
  }
}

function main(argv: string[]): void {
  const [targetArg, outDir, manifestsFile] = argv;
  if (!outDir) throw new Error('usage: synth-floor.js <homelab|N> <outdir> [manifests.json]');
  const target = parseTarget(targetArg);
  const stackId = stackIdFor(target);
  const services = flatServices(target);
  const scripts = loadScripts(services.flatMap((s) => s.scripts));
  const resources: Resources = {
    kubernetes_config_map_v1: {},
    kubernetes_cron_job_v1: {},
    kubernetes_persistent_volume_claim_v1: {},
    kubernetes_persistent_volume_v1: {},
  };
  for (const s of services) addService(resources, stackId, s, scripts);
  for (const { path, manifest } of readPassThroughManifests(manifestsFile)) {
    const [id, body] = resource(stackId, path, { manifest });
    (resources.kubernetes_manifest ??= {})[id] = body;
  }
  const document = {
    '//': { metadata: { backend: 'local', stackName: stackId, version: CDKTF_VERSION }, outputs: {} },
    provider: { kubernetes: [{}] },
    resource: resources,
    terraform: {
      backend: { local: { path: `../../../terraform-state/${stackId}.tfstate` } },
      required_providers: { kubernetes: { source: 'kubernetes', version: KUBERNETES_PROVIDER_VERSION } },
    },
  };
  const stackDir = join(outDir, 'stacks', stackId);
  mkdirSync(stackDir, { recursive: true });
  writeFileSync(join(stackDir, 'cdk.tf.json'), JSON.stringify(document, null, 2));
  // The manifest cdktf writes beside the stacks, so the floor writes the same files.
  const manifest = {
    version: CDKTF_VERSION,
    stacks: {
      [stackId]: {
        name: stackId,
        constructPath: stackId,
        workingDirectory: `stacks/${stackId}`,
        synthesizedStackPath: `stacks/${stackId}/cdk.tf.json`,
        stackMetadataPath: `stacks/${stackId}/metadata.json`,
        annotations: [],
        dependencies: [],
      },
    },
  };
  writeFileSync(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2));
}

main(process.argv.slice(2));
