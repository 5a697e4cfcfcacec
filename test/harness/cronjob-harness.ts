/**
 * Runs a CronJob from the synthesized stack the way the kubelet would run its pod, on this machine,
 * so that integration tests exercise the artifact (`cdk.tf.json`) and not a hand-made copy of it.
 *
 * What is taken from the CronJob, verbatim: the container's command and args, its `env` (values, and
 * `value_from.secret_key_ref` resolved through a test map of Secrets), every volume mount at its
 * `mount_path`, the pod's user, group, fsGroup, `run_as_non_root`, `read_only_root_filesystem`,
 * `allow_privilege_escalation`, dropped capabilities, `host_network` and `dns_policy`,
 * `active_deadline_seconds`, `backoff_limit` and `termination_grace_period_seconds`.
 *
 * How a pod is made here (root only):
 * - `unshare --mount --uts --pid --fork --mount-proc`: a private mount namespace, the pod's hostname,
 *   and the job's shell as PID 1, as in a container (PID 1 ignores signals it has no handler for,
 *   which is what `activeDeadlineSeconds` runs into).
 * - Volumes are bind mounts. The backup claim is a host directory standing in for the NFS export;
 *   the script ConfigMap is written the way the kubelet's AtomicWriter writes it (`..data` symlinks,
 *   `default_mode`, root-owned, mounted read-only) with Terraform's template escapes undone
 *   (`$${` -> `${`, `%%{` -> `%{`; test/stack/terraform-escaping.test.ts proves Terraform does
 *   exactly that); Secret volumes hold the test values, root-owned with `default_mode`, and only an
 *   fsGroup makes them group-readable, as the kubelet does; emptyDir is a fresh 0777 directory.
 * - Name resolution: `/etc/hosts` and `/etc/resolv.conf` are replaced inside the namespace. Cluster
 *   service names map to loopback addresses of the test servers; the resolver points at 127.0.0.1
 *   (nothing listens on port 53), so an unmapped name fails at once and no lookup leaves the machine.
 *   A host-network pod without `dns_policy: ClusterFirstWithHostNet` gets the node's resolver in
 *   Kubernetes, which knows no cluster names: such a pod sees only localhost here.
 * - The image: the container's root is the backup-tools root filesystem (the backup-drill one for a
 *   container whose image is backup-drill: the restore drills), built by mmdebstrap from
 *   images/<image>/packages.txt, the lists the Dockerfiles install (test/support/rootfs.ts),
 *   under a per-pod overlay as a container runtime does, so mount points can be created without
 *   touching the cached image. Its binaries, its `/etc` (passwd with user 10001), its default PATH,
 *   HOME as the runtime derives it from that passwd; `/usr/local/sbin`, first on the image's PATH and
 *   empty in it, is where test doubles go (`shims`). `/proc` (the pod's PID namespace), a minimal
 *   `/dev` (null, zero, full, random, urandom, tty, its own shm) and a read-only `/sys` as in a
 *   container.
 * - Then the root is remounted read-only (with `read_only_root_filesystem`) and the command runs in
 *   it (`chroot`) under the image's `setpriv` with the pod's uid and gid, no supplementary groups
 *   (fsGroup only when set), no capabilities and no_new_privs, with exactly the pod's environment
 *   (a host Perl one-liner reads it from a root-only file before the chroot, so no secret value is
 *   ever on a command line).
 *
 * Not modelled: seccomp, cgroup requests and limits, emptyDir size limits (the kubelet enforces those
 * by eviction, not with ENOSPC), a separate network namespace (every pod shares the host's loopback),
 * image pulls, and the Job controller's back-off delays between retries (retries run at once).
 *
 * The host's own files stay out of the pod: the volumes' host directories are bind-mounted at their
 * `mount_path` inside the image's root, which is all the job can see.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requireRootfs, type ImageName } from '../support/rootfs';

// ---------------------------------------------------------------------------------------------
// Reading the synthesized stack

export interface EnvEntry {
  name: string;
  value?: string;
  value_from?: { secret_key_ref?: { name: string; key: string } };
}

export interface VolumeMountEntry {
  name: string;
  mount_path: string;
  read_only?: boolean;
}

export interface VolumeEntry {
  name: string;
  persistent_volume_claim?: { claim_name: string; read_only?: boolean };
  config_map?: { name: string; default_mode?: string };
  secret?: { secret_name: string; default_mode?: string };
  empty_dir?: { size_limit?: string; medium?: string };
  host_path?: { path: string; type?: string };
}

/** The parts of one CronJob that decide how its pod runs. */
export interface CronJobView {
  name: string;
  namespace: string;
  /** The container's image: decides which root filesystem the pod runs in (imageRootfs). */
  image: string;
  command: string[];
  args: string[];
  env: EnvEntry[];
  volumeMounts: VolumeMountEntry[];
  volumes: VolumeEntry[];
  runAsUser: number;
  runAsGroup: number;
  fsGroup?: number;
  runAsNonRoot: boolean;
  readOnlyRootFilesystem: boolean;
  allowPrivilegeEscalation: boolean;
  dropCapabilities: string[];
  /** Capabilities added back (restore Jobs only; a CronJob adds none). */
  addCapabilities?: string[];
  hostNetwork: boolean;
  dnsPolicy: string;
  activeDeadlineSeconds?: number;
  backoffLimit: number;
  terminationGracePeriodSeconds: number;
  concurrencyPolicy: string;
}

function resources(stack: any, type: string): any[] {
  return Object.values<any>(stack?.resource?.[type] ?? {});
}

function intOf(value: unknown, fallback?: number): number | undefined {
  if (value === undefined || value === null || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new Error(`expected an integer in the stack, found ${JSON.stringify(value)}`);
  return n;
}

/** Reads a CronJob of the synthesized stack by its Kubernetes name. */
export function cronJob(stack: any, name: string): CronJobView {
  const matches = resources(stack, 'kubernetes_cron_job_v1').filter((c) => c.metadata?.name === name);
  if (matches.length !== 1) {
    const names = resources(stack, 'kubernetes_cron_job_v1').map((c) => c.metadata?.name);
    throw new Error(`expected one CronJob named ${name}, found ${matches.length} (have: ${names.join(', ')})`);
  }
  const cj = matches[0];
  const jobSpec = cj.spec.job_template.spec;
  const podSpec = jobSpec.template.spec;
  if (podSpec.container.length !== 1) throw new Error(`${name}: the harness runs single-container pods`);
  if (podSpec.init_container) throw new Error(`${name}: init containers are not supported by the harness`);
  const container = podSpec.container[0];
  const podSec = podSpec.security_context ?? {};
  const sec = container.security_context ?? {};
  const runAsUser = intOf(sec.run_as_user ?? podSec.run_as_user, 0)!;
  return {
    name,
    namespace: cj.metadata.namespace ?? 'default',
    image: container.image ?? '',
    command: container.command ?? [],
    args: container.args ?? [],
    env: container.env ?? [],
    volumeMounts: container.volume_mount ?? [],
    volumes: podSpec.volume ?? [],
    runAsUser,
    runAsGroup: intOf(sec.run_as_group ?? podSec.run_as_group, runAsUser)!,
    fsGroup: intOf(podSec.fs_group),
    runAsNonRoot: Boolean(sec.run_as_non_root ?? podSec.run_as_non_root ?? false),
    readOnlyRootFilesystem: Boolean(sec.read_only_root_filesystem ?? false),
    // Kubernetes' default is true; only an explicit false sets no_new_privs.
    allowPrivilegeEscalation: sec.allow_privilege_escalation !== false,
    dropCapabilities: sec.capabilities?.drop ?? [],
    hostNetwork: Boolean(podSpec.host_network ?? false),
    dnsPolicy: podSpec.dns_policy ?? 'ClusterFirst',
    activeDeadlineSeconds: intOf(jobSpec.active_deadline_seconds),
    backoffLimit: intOf(jobSpec.backoff_limit, 6)!,
    terminationGracePeriodSeconds: intOf(podSpec.termination_grace_period_seconds, 30)!,
    concurrencyPolicy: cj.spec.concurrency_policy ?? 'Allow',
  };
}

/**
 * A Job manifest in the Kubernetes API's form (what `backup-policy restore` prints for kubectl), read
 * into the same view as a synthesized CronJob's pod, so the harness runs it the same way.
 */
export function jobManifestView(job: any): CronJobView {
  const pod = job.spec.template.spec;
  if (pod.containers.length !== 1) throw new Error(`${job.metadata.name}: the harness runs single-container pods`);
  const c = pod.containers[0];
  const octal = (n: number | undefined) => (n === undefined ? undefined : `0${n.toString(8)}`);
  const podSec = pod.securityContext ?? {};
  const sec = c.securityContext ?? {};
  const runAsUser = sec.runAsUser ?? podSec.runAsUser ?? 0;
  return {
    name: job.metadata.name,
    namespace: job.metadata.namespace ?? 'default',
    image: c.image ?? '',
    command: c.command ?? [],
    args: c.args ?? [],
    env: (c.env ?? []).map((e: any) => (e.valueFrom ? { name: e.name, value_from: { secret_key_ref: { name: e.valueFrom.secretKeyRef.name, key: e.valueFrom.secretKeyRef.key } } } : { name: e.name, value: e.value })),
    volumeMounts: (c.volumeMounts ?? []).map((m: any) => ({ name: m.name, mount_path: m.mountPath, read_only: m.readOnly })),
    volumes: (pod.volumes ?? []).map((v: any) => ({
      name: v.name,
      ...(v.persistentVolumeClaim ? { persistent_volume_claim: { claim_name: v.persistentVolumeClaim.claimName, read_only: v.persistentVolumeClaim.readOnly } } : {}),
      ...(v.configMap ? { config_map: { name: v.configMap.name, default_mode: octal(v.configMap.defaultMode) } } : {}),
      ...(v.secret ? { secret: { secret_name: v.secret.secretName, default_mode: octal(v.secret.defaultMode) } } : {}),
      ...(v.emptyDir ? { empty_dir: { size_limit: v.emptyDir.sizeLimit } } : {}),
      ...(v.hostPath ? { host_path: { path: v.hostPath.path, type: v.hostPath.type } } : {}),
    })),
    runAsUser,
    runAsGroup: sec.runAsGroup ?? podSec.runAsGroup ?? runAsUser,
    fsGroup: podSec.fsGroup,
    runAsNonRoot: Boolean(sec.runAsNonRoot ?? podSec.runAsNonRoot ?? false),
    readOnlyRootFilesystem: Boolean(sec.readOnlyRootFilesystem ?? false),
    allowPrivilegeEscalation: sec.allowPrivilegeEscalation !== false,
    dropCapabilities: sec.capabilities?.drop ?? [],
    addCapabilities: sec.capabilities?.add ?? [],
    hostNetwork: Boolean(pod.hostNetwork ?? false),
    dnsPolicy: pod.dnsPolicy ?? 'ClusterFirst',
    activeDeadlineSeconds: job.spec.activeDeadlineSeconds,
    backoffLimit: job.spec.backoffLimit ?? 6,
    terminationGracePeriodSeconds: pod.terminationGracePeriodSeconds ?? 30,
    concurrencyPolicy: 'Forbid',
  };
}

/** Every CronJob name in the stack, sorted. */
export function cronJobNames(stack: any): string[] {
  return resources(stack, 'kubernetes_cron_job_v1').map((c) => c.metadata.name as string).sort();
}

/** A ConfigMap's `data` exactly as synthesized (still in Terraform's template syntax). */
export function configMapData(stack: any, namespace: string, name: string): Record<string, string> {
  const matches = resources(stack, 'kubernetes_config_map_v1').filter(
    (m) => m.metadata?.name === name && (m.metadata?.namespace ?? 'default') === namespace,
  );
  if (matches.length !== 1) throw new Error(`expected one ConfigMap ${namespace}/${name}, found ${matches.length}`);
  return matches[0].data ?? {};
}

/**
 * What Terraform hands the provider for a JSON string: the template escapes undone. A bare `${` or
 * `%{` would be an interpolation or directive, which script text must never contain; the harness
 * refuses it rather than guess what Terraform would make of it.
 */
export function terraformUnescape(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; ) {
    if (text.startsWith('$${', i)) {
      out += '${';
      i += 3;
    } else if (text.startsWith('%%{', i)) {
      out += '%{';
      i += 3;
    } else if (text.startsWith('${', i) || text.startsWith('%{', i)) {
      throw new Error(`unescaped template sequence at offset ${i}: Terraform would interpolate "${text.slice(i, i + 20)}"`);
    } else {
      out += text[i];
      i += 1;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The test "cluster": what the stack refers to by name

/** A PersistentVolumeClaim's backing directory, with a fault to inject. */
export interface ClaimSource {
  /** Host directory standing in for the volume (the NFS export, the app's data volume). */
  path: string;
  /** The export was remounted read-only (bind-mounted read-only whatever the pod asks). */
  readOnly?: boolean;
  /**
   * The directory disappears under the mount just before the job starts (an export deleted while
   * mounted): the path still looks like a directory, but nothing can be created in it.
   */
  vanishes?: boolean;
}

export interface TestCluster {
  stack: any;
  /** Secret name -> key -> value (the namespace is ignored: test secret names are unique). */
  secrets: Record<string, Record<string, string>>;
  /** Cluster DNS: service host name -> loopback address of the test server. */
  hosts: Record<string, string>;
  /** Claim name -> backing directory. */
  claims: Record<string, ClaimSource | string>;
  /** A hostPath volume's path on the node -> the test directory standing in for it. */
  hostPaths?: Record<string, string>;
}

export interface PodOptions {
  /** Overrides of the cluster's DNS for this pod (e.g. a name pointing at a dead address). */
  hosts?: Record<string, string>;
  /** Overrides of the claims for this pod (e.g. a full or read-only target). */
  claims?: Record<string, ClaimSource | string>;
  /** Overrides of the cluster's hostPath directories for this pod. */
  hostPaths?: Record<string, string>;
  /** Test doubles on the image's PATH: command name -> file content (placed in /usr/local/sbin). */
  shims?: Record<string, string>;
  /** Replace the container command. Only the harness's own tests use this. */
  command?: string[];
  /** Override the Job's deadline and grace period. Only the harness's own tests use these. */
  activeDeadlineSeconds?: number;
  terminationGracePeriodSeconds?: number;
  /** Run this Job (a restore Job rendered by `backup-policy restore`) instead of the CronJob `name`. */
  job?: CronJobView;
}

export interface PodResult {
  podName: string;
  /** Exit status of the container's PID 1, or null when it died of a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** The deadline passed and the pod was sent SIGTERM. */
  deadlineExceeded: boolean;
  /** The pod was still running after the grace period and was SIGKILLed. */
  killedAfterGrace: boolean;
  /** What the run left in its emptyDir /tmp (relative names). */
  tmpLeftovers: string[];
}

export interface RunningPod {
  podName: string;
  /** Host PID of the container's PID 1 (the job's shell), once the namespace exists. */
  pid(): Promise<number>;
  result: Promise<PodResult>;
  /** Deletes the pod: SIGTERM, then SIGKILL after the grace period. */
  delete(): void;
}

/** The PATH of debian:trixie-slim, which the image keeps. */
const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const SHIM_DIR = '/usr/local/sbin';
const PODS_ROOT = '/var/tmp/bp-harness-pods';
/** Device nodes a container runtime puts in a container's /dev. */
const POD_DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];

/** A user's home directory from the image's /etc/passwd, as the runtime derives HOME. */
function imageHome(rootfs: string, uid: number): string | undefined {
  for (const line of fs.readFileSync(path.join(rootfs, 'etc', 'passwd'), 'utf8').split('\n')) {
    const f = line.split(':');
    if (f.length >= 6 && Number(f[2]) === uid && f[2] !== '') return f[5];
  }
  return undefined;
}

function claimOf(source: ClaimSource | string): ClaimSource {
  return typeof source === 'string' ? { path: source } : source;
}

function octal(mode: string | undefined, fallback: number): number {
  if (mode === undefined) return fallback;
  if (!/^0?[0-7]{3,4}$/.test(mode)) throw new Error(`bad file mode ${mode}`);
  return parseInt(mode, 8);
}

/** Single-quoted for bash. */
function sh(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Writes files the way the kubelet's AtomicWriter does: the data in a timestamped directory,
 * `..data` pointing at it, and each name a symlink through `..data`. Files are root-owned with
 * `mode`; with an fsGroup the kubelet gives them that group and adds group read (the volume is
 * read-only, so read and no more). Without one a 0400 file is unreadable to a non-root job.
 */
function writeAtomicVolume(dir: string, files: Record<string, string | Buffer>, mode: number, fsGroup?: number): void {
  const stamp = `..${new Date().toISOString().replace(/[-:.]/g, '_')}.${crypto.randomBytes(4).toString('hex')}`;
  fs.mkdirSync(path.join(dir, stamp), { recursive: true, mode: 0o755 });
  for (const [name, content] of Object.entries(files)) {
    if (name.includes('/') || name.startsWith('..')) throw new Error(`unsupported key name ${name}`);
    const file = path.join(dir, stamp, name);
    fs.writeFileSync(file, content);
    fs.chownSync(file, 0, fsGroup ?? 0);
    fs.chmodSync(file, fsGroup === undefined ? mode : mode | 0o440);
    fs.symlinkSync(path.join('..data', name), path.join(dir, name));
  }
  fs.symlinkSync(stamp, path.join(dir, '..data'));
  fs.chownSync(path.join(dir, stamp), 0, fsGroup ?? 0);
  fs.chownSync(dir, 0, fsGroup ?? 0);
  fs.chmodSync(dir, fsGroup === undefined ? 0o755 : 0o2755);
}

function listRecursive(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).map(String).sort();
}

/** Host PID of unshare's only child, the namespace's PID 1. */
function childPid(parent: number): number | undefined {
  try {
    const pids = fs.readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return pids.length ? Number(pids[0]) : undefined;
  } catch {
    return undefined;
  }
}

function podEnvironment(view: CronJobView, cluster: TestCluster, podName: string, rootfs: string): Record<string, string> {
  // The image's environment first (PATH from debian:trixie-slim; HOME as the runtime derives it
  // from the image's passwd, "/" for a uid it does not know), then the container's env over it.
  const env: Record<string, string> = { PATH: IMAGE_PATH, HOSTNAME: podName, HOME: imageHome(rootfs, view.runAsUser) ?? '/' };
  for (const e of view.env) {
    if (e.value_from?.secret_key_ref) {
      const ref = e.value_from.secret_key_ref;
      const value = cluster.secrets[ref.name]?.[ref.key];
      // The kubelet would refuse to start the container (CreateContainerConfigError).
      if (value === undefined) throw new Error(`${view.name}: env ${e.name} refers to missing Secret key ${ref.name}/${ref.key}`);
      env[e.name] = value;
    } else if (e.value_from) {
      throw new Error(`${view.name}: env ${e.name} uses an unsupported value_from`);
    } else {
      env[e.name] = e.value ?? '';
    }
  }
  return env;
}

interface Bind {
  source: string;
  /** The path the pod sees, inside the image's root. */
  target: string;
  readOnly: boolean;
  vanishes?: boolean;
}

/** Writes the pod's files under `work` (its /etc, volumes, launcher); returns its emptyDir /tmp. */
function preparePod(work: string, view: CronJobView, cluster: TestCluster, opts: PodOptions, env: Record<string, string>, podName: string, rootfs: string): string | undefined {
  const name = view.name;
  const etc = path.join(work, 'etc');
  fs.mkdirSync(etc);

  // Name resolution, as the pod's DNS policy decides.
  const clusterDns = !view.hostNetwork || view.dnsPolicy === 'ClusterFirstWithHostNet';
  const names = { ...cluster.hosts, ...(opts.hosts ?? {}) };
  const hostLines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', `127.0.1.1\t${podName}`];
  if (clusterDns) for (const [host, ip] of Object.entries(names)) hostLines.push(`${ip}\t${host}`);
  fs.writeFileSync(path.join(etc, 'hosts'), `${hostLines.join('\n')}\n`, { mode: 0o644 });
  fs.writeFileSync(path.join(etc, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n', { mode: 0o644 });
  fs.writeFileSync(path.join(etc, 'hostname'), `${podName}\n`, { mode: 0o644 });
  // Read by the Perl launcher as root inside the namespace, then gone with the pod dir.
  fs.writeFileSync(path.join(work, 'env'), Object.entries(env).map(([k, v]) => `${k}=${v}\0`).join(''), { mode: 0o600 });

  // The kubelet's own files in every container; the rest of /etc is the image's.
  const binds: Bind[] = [
    { source: path.join(etc, 'hosts'), target: '/etc/hosts', readOnly: true },
    { source: path.join(etc, 'resolv.conf'), target: '/etc/resolv.conf', readOnly: true },
    { source: path.join(etc, 'hostname'), target: '/etc/hostname', readOnly: true },
  ];
  const shimDir = path.join(work, 'shims');
  fs.mkdirSync(shimDir, { mode: 0o755 });
  for (const [cmd, content] of Object.entries(opts.shims ?? {})) fs.writeFileSync(path.join(shimDir, cmd), content, { mode: 0o755 });
  binds.push({ source: shimDir, target: SHIM_DIR, readOnly: true });

  let tmpDir: string | undefined;
  const claims = { ...cluster.claims, ...(opts.claims ?? {}) };
  for (const mount of view.volumeMounts) {
    const volume = view.volumes.find((v) => v.name === mount.name);
    if (!volume) throw new Error(`${name}: volume_mount ${mount.name} has no volume`);
    const source = path.join(work, 'volumes', volume.name);
    if (volume.persistent_volume_claim) {
      const claimName = volume.persistent_volume_claim.claim_name;
      const claim = claims[claimName];
      if (!claim) throw new Error(`${name}: no test directory for claim ${claimName}`);
      const c = claimOf(claim);
      if (!fs.statSync(c.path).isDirectory()) throw new Error(`${name}: claim ${claimName} -> ${c.path} is not a directory`);
      binds.push({
        source: c.path,
        target: mount.mount_path,
        readOnly: Boolean(mount.read_only || volume.persistent_volume_claim.read_only || c.readOnly),
        vanishes: c.vanishes,
      });
    } else if (volume.config_map) {
      const data = configMapData(cluster.stack, view.namespace, volume.config_map.name);
      const files = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, terraformUnescape(v)]));
      fs.mkdirSync(source, { recursive: true });
      writeAtomicVolume(source, files, octal(volume.config_map.default_mode, 0o644), view.fsGroup);
      // ConfigMap and Secret volumes are always mounted read-only.
      binds.push({ source, target: mount.mount_path, readOnly: true });
    } else if (volume.secret) {
      const secret = cluster.secrets[volume.secret.secret_name];
      if (!secret) throw new Error(`${name}: no test values for Secret ${volume.secret.secret_name}`);
      fs.mkdirSync(source, { recursive: true });
      writeAtomicVolume(source, secret, octal(volume.secret.default_mode, 0o644), view.fsGroup);
      binds.push({ source, target: mount.mount_path, readOnly: true });
    } else if (volume.empty_dir) {
      fs.mkdirSync(source, { recursive: true });
      // The kubelet creates emptyDir 0777; an fsGroup adds the group and setgid.
      if (view.fsGroup !== undefined) {
        fs.chownSync(source, 0, view.fsGroup);
        fs.chmodSync(source, 0o2777);
      } else {
        fs.chmodSync(source, 0o777);
      }
      if (mount.mount_path === (env.TMPDIR ?? '/tmp') || mount.mount_path === '/tmp') tmpDir = source;
      binds.push({ source, target: mount.mount_path, readOnly: Boolean(mount.read_only) });
    } else if (volume.host_path) {
      // The node's directory: a test directory named for it. DirectoryOrCreate makes it, root-owned
      // 0755, as the kubelet does; Directory requires it to exist.
      const hostPaths = { ...(cluster.hostPaths ?? {}), ...(opts.hostPaths ?? {}) };
      const dir = hostPaths[volume.host_path.path];
      if (!dir) throw new Error(`${name}: no test directory for hostPath ${volume.host_path.path}`);
      if (!fs.existsSync(dir)) {
        if (volume.host_path.type !== 'DirectoryOrCreate') throw new Error(`${name}: hostPath ${volume.host_path.path} (type ${volume.host_path.type ?? 'unset'}) does not exist`);
        fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      }
      binds.push({ source: dir, target: mount.mount_path, readOnly: Boolean(mount.read_only) });
    } else {
      throw new Error(`${name}: unsupported volume ${JSON.stringify(volume)}`);
    }
  }
  // Parents before children, as the kubelet orders mounts: a volume under another (a Secret inside
  // /etc/backup-policy, say) must not be hidden by it.
  binds.sort((a, b) => a.target.split('/').length - b.target.split('/').length);

  const setpriv = [
    'setpriv',
    `--reuid=${view.runAsUser}`,
    `--regid=${view.runAsGroup}`,
    ...(view.fsGroup !== undefined ? [`--groups=${view.fsGroup}`] : ['--clear-groups']),
    ...(view.allowPrivilegeEscalation ? [] : ['--no-new-privs']),
    // An added capability stays in the bounding set: root's execve then has it in its permitted and
    // effective sets, as a container runtime gives it. (For another user it would need ambient
    // capabilities, which no Job here asks for.)
    ...(view.dropCapabilities.includes('ALL') ? ['--inh-caps=-all', '--ambient-caps=-all', `--bounding-set=${['-all', ...(view.addCapabilities ?? []).map((c) => `+${c.toLowerCase()}`)].join(',')}`] : []),
    '--',
  ];
  const command = opts.command ?? [...view.command, ...view.args];
  if (command.length === 0) throw new Error(`${name}: no command (the harness does not know the image's entrypoint)`);
  // The container's root: the cached image below, this pod's writable layer above, as overlayfs
  // container runtimes do. Mount points missing from the image are created in the pod's layer.
  const root = path.join(work, 'root');
  const inRoot = (target: string) => path.join(root, target);
  for (const d of ['root', 'layer', 'overlay-work']) fs.mkdirSync(path.join(work, d), { mode: 0o755 });
  const lines = [
    'set -euo pipefail',
    `hostname ${sh(podName)}`,
    `mount -t overlay overlay -o ${sh(`lowerdir=${rootfs},upperdir=${path.join(work, 'layer')},workdir=${path.join(work, 'overlay-work')}`)} ${sh(root)}`,
  ];
  for (const b of binds) {
    lines.push(fs.statSync(b.source).isDirectory() ? `mkdir -p ${sh(inRoot(b.target))}` : `touch ${sh(inRoot(b.target))}`);
  }
  if (view.readOnlyRootFilesystem) lines.push(`mount -o remount,bind,ro ${sh(root)}`);
  lines.push(
    `mount -t proc -o nosuid,nodev,noexec proc ${sh(inRoot('/proc'))}`,
    `mount -t sysfs -o ro,nosuid,nodev,noexec sysfs ${sh(inRoot('/sys'))}`,
    `mount -t tmpfs -o nosuid,mode=755,size=64k dev ${sh(inRoot('/dev'))}`,
    ...POD_DEVICES.map((d) => `touch ${sh(inRoot(`/dev/${d}`))} && mount --bind /dev/${d} ${sh(inRoot(`/dev/${d}`))}`),
    `ln -s /proc/self/fd ${sh(inRoot('/dev/fd'))}`,
    ...['stdin', 'stdout', 'stderr'].map((n, i) => `ln -s /proc/self/fd/${i} ${sh(inRoot(`/dev/${n}`))}`),
    // Pods get their own /dev/shm; without this one the job would write to the host's.
    `mkdir ${sh(inRoot('/dev/shm'))} && mount -t tmpfs -o size=64m,nosuid,nodev,noexec shm ${sh(inRoot('/dev/shm'))}`,
  );
  for (const b of binds) {
    lines.push(`mount --bind ${sh(b.source)} ${sh(inRoot(b.target))}`);
    if (b.readOnly) lines.push(`mount -o remount,bind,ro ${sh(inRoot(b.target))}`);
    if (b.vanishes) lines.push(`rm -rf -- ${sh(b.source)}`);
  }
  // Exactly the pod's environment: read from the root-only file on the host, replacing everything
  // else, then into the image's root and exec there (setpriv is the image's util-linux).
  const perl = 'open(my $f, "<", shift) or die "env: $!"; local $/ = "\\0"; %ENV = (); while (my $l = <$f>) { chop $l; my ($k, $v) = split(/=/, $l, 2); $ENV{$k} = $v } close $f; my $root = shift; chroot($root) or die "chroot: $!"; chdir("/") or die "chdir: $!"; exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!"';
  lines.push(`exec perl -e ${sh(perl)} ${sh(path.join(work, 'env'))} ${sh(root)} ${[...setpriv, ...command].map(sh).join(' ')}`);
  fs.writeFileSync(path.join(work, 'pod.sh'), `${lines.join('\n')}\n`, { mode: 0o700 });
  return tmpDir;
}

/**
 * The root filesystem a pod's image stands for: the restore drills' image (backup-drill, the tools
 * plus the servers a drill starts) by its name, every other image is backup-tools, as before.
 */
export function imageRootfs(view: CronJobView): ImageName {
  const repository = view.image.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
  return repository.endsWith('/backup-drill') || repository === 'backup-drill' ? 'backup-drill' : 'backup-tools';
}

/** Starts one pod of the CronJob `name`. */
export function startPod(cluster: TestCluster, name: string, opts: PodOptions = {}): RunningPod {
  const view = opts.job ?? cronJob(cluster.stack, name);
  if (view.runAsNonRoot && view.runAsUser === 0) {
    throw new Error(`${name}: runAsNonRoot with uid 0; the kubelet would refuse to start the container`);
  }
  if (!view.readOnlyRootFilesystem) throw new Error(`${name}: the harness expects read_only_root_filesystem`);
  if ((view.addCapabilities ?? []).length > 0 && view.runAsUser !== 0) throw new Error(`${name}: the harness models added capabilities for root only`);
  const rootfs = requireRootfs(imageRootfs(view));
  fs.mkdirSync(PODS_ROOT, { recursive: true, mode: 0o700 });
  // As the CronJob controller and the Job controller name it: <cronjob>-<scheduled minute>-<5 chars>.
  const podName = `${name}-${Math.floor(Date.now() / 60000)}-${crypto.randomBytes(3).toString('hex').slice(0, 5)}`;
  const env = podEnvironment(view, cluster, podName, rootfs);
  const work = fs.mkdtempSync(path.join(PODS_ROOT, `${name}-`));
  let tmpDir: string | undefined;
  try {
    tmpDir = preparePod(work, view, cluster, opts, env, podName, rootfs);
  } catch (e) {
    // A pod that cannot be set up leaves nothing behind.
    fs.rmSync(work, { recursive: true, force: true });
    throw e;
  }

  const deadline = opts.activeDeadlineSeconds ?? view.activeDeadlineSeconds;
  const grace = opts.terminationGracePeriodSeconds ?? view.terminationGracePeriodSeconds;
  const started = Date.now();
  const child: ChildProcess = spawn(
    'unshare',
    ['--mount', '--uts', '--pid', '--fork', '--mount-proc', '--propagation', 'private', '--kill-child', 'bash', path.join(work, 'pod.sh')],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: IMAGE_PATH } },
  );
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => err.push(d));

  let deadlineExceeded = false;
  let killedAfterGrace = false;
  let exited = false;
  let graceTimer: NodeJS.Timeout | undefined;
  const signalPid1 = (signal: NodeJS.Signals) => {
    const pid = child.pid ? childPid(child.pid) : undefined;
    try {
      if (pid) process.kill(pid, signal);
      else if (signal === 'SIGKILL') child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  };
  // Deleting a pod: SIGTERM to the container's PID 1 only (not its children), SIGKILL to all of it
  // when the grace period is over (killing a PID namespace's init kills every process in it).
  const terminate = () => {
    if (exited || graceTimer) return;
    signalPid1('SIGTERM');
    graceTimer = setTimeout(() => {
      if (exited) return;
      killedAfterGrace = true;
      signalPid1('SIGKILL');
    }, grace * 1000);
  };
  const deadlineTimer =
    deadline !== undefined
      ? setTimeout(() => {
          deadlineExceeded = true;
          terminate();
        }, deadline * 1000)
      : undefined;

  const result = new Promise<PodResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      exited = true;
      if (deadlineTimer) clearTimeout(deadlineTimer);
      if (graceTimer) clearTimeout(graceTimer);
      const tmpLeftovers = tmpDir ? listRecursive(tmpDir) : [];
      fs.rmSync(work, { recursive: true, force: true });
      // unshare --fork passes on its child's exit status. When the harness SIGKILLed the PID
      // namespace, unshare's own status says nothing useful, so the pod is reported as killed.
      resolve({
        podName,
        code: killedAfterGrace ? null : code,
        signal: killedAfterGrace ? 'SIGKILL' : signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        durationMs: Date.now() - started,
        deadlineExceeded,
        killedAfterGrace,
        tmpLeftovers,
      });
    });
  });

  return {
    podName,
    async pid() {
      for (let i = 0; i < 400; i++) {
        const pid = child.pid ? childPid(child.pid) : undefined;
        if (pid) return pid;
        if (exited) throw new Error(`${podName} exited before its PID 1 was seen`);
        await new Promise((r) => setTimeout(r, 5));
      }
      throw new Error(`${podName}: no PID 1 after 2 s`);
    },
    result,
    delete: terminate,
  };
}

export interface JobResult {
  /** Every pod the Job ran, in order. */
  attempts: PodResult[];
  succeeded: boolean;
  deadlineExceeded: boolean;
  durationMs: number;
}

/**
 * Runs the CronJob's Job to completion as the Job controller would: pods until one succeeds or
 * `backoff_limit + 1` have failed, all within `active_deadline_seconds` counted from the Job's start
 * (the controller's back-off delays of 10 s, 20 s, ... are skipped). `opts.attempts` limits the pods.
 */
/** Shorter than the Job controller's 10 s backoff, long enough for distinct run timestamps. */
const RETRY_BACKOFF_MS = 1100;

export async function runJob(cluster: TestCluster, name: string, opts: PodOptions & { attempts?: number } = {}): Promise<JobResult> {
  const view = opts.job ?? cronJob(cluster.stack, name);
  const maxPods = opts.attempts ?? view.backoffLimit + 1;
  const deadline = opts.activeDeadlineSeconds ?? view.activeDeadlineSeconds;
  const started = Date.now();
  const attempts: PodResult[] = [];
  while (attempts.length < maxPods) {
    const left = deadline === undefined ? undefined : Math.max(0, deadline - (Date.now() - started) / 1000);
    if (left === 0) break;
    const pod = startPod(cluster, name, { ...opts, activeDeadlineSeconds: left });
    const r = await pod.result;
    attempts.push(r);
    if (r.code === 0 || r.deadlineExceeded) break;
    // The Job controller waits at least 10 s before a retry. Retrying at once would let the
    // second attempt start in the same second as the first and collide with the copies the
    // first already published (names carry a one-second timestamp); a second is enough here.
    if (attempts.length < maxPods) await new Promise((resolve) => setTimeout(resolve, RETRY_BACKOFF_MS));
  }
  return {
    attempts,
    succeeded: attempts.some((a) => a.code === 0),
    deadlineExceeded: attempts.some((a) => a.deadlineExceeded),
    durationMs: Date.now() - started,
  };
}
