/**
 * A Proxmox host in a temp dir, for the host-script tests: the stateful LVM fake and a kubectl fake
 * on PATH, a backup "disk" that is a real mount point (a bind mount of a temp dir onto itself), NFS
 * trees, a NAS reached over real SSH (an sshd on 127.0.0.1 with throwaway keys), and a host.env
 * rendered by the real renderer from a policy whose paths point into the lab, so the scripts read
 * exactly what the plan produces.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { planPolicy } from '../../policy/plan/plan';
import { renderHostConfig } from '../../policy/render/systemd';
import type { HostInput } from '../../policy/schema/host';
import { samplePolicy } from '../support/policies';
import { runScript, startScript, type RunOptions, type RunningScript, type ScriptResult } from '../support/run-script';
import { freePort, runOk, waitUntil } from '../support/servers';

export const LVM_FAKE_DIR = path.resolve(__dirname, '..', 'fakes', 'lvm');
export const KUBECTL_FAKE_DIR = path.join(__dirname, 'fakes');

export interface Lab {
  root: string;
  state: string;
  lvm: string;
  k8s: string;
  run: string;
  backup: string;
  configFile: string;
  host: HostInput;
}

const labs = new Set<Lab>();

/** Mount points under `root`, deepest first. */
function mountsUnder(root: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined && (m === root || m.startsWith(`${root}/`)))
    .sort((a, b) => b.length - a.length);
}

function cleanupSync(lab: Lab): void {
  for (const m of mountsUnder(lab.root)) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      // Already gone.
    }
  }
  try {
    const loops = execFileSync('losetup', ['-a']).toString();
    for (const line of loops.split('\n').filter((l) => l.includes(lab.root))) execFileSync('losetup', ['-d', line.split(':')[0]]);
  } catch {
    // No loop devices left.
  }
  fs.rmSync(lab.root, { recursive: true, force: true });
}

process.on('exit', () => {
  for (const lab of labs) cleanupSync(lab);
});

/** The host section of a policy whose every path lies inside the lab. */
export function labHost(root: string, over: Partial<HostInput> = {}): HostInput {
  return {
    name: 'pve',
    address: '127.0.0.1',
    timeZone: 'Europe/London',
    pushgateway: { url: 'http://127.0.0.1:9' },
    kubeconfig: `${root}/kubeconfig`,
    snapshots: {
      volumeGroup: 'pve',
      thinPool: 'data',
      lvPattern: 'vm-*-pvc-*',
      excludeNamespaces: ['dbaas', 'monitoring'],
      schedule: 'daily at 03:00',
      retention: '7d',
      minFreePercent: 15,
    },
    fileBackup: {
      mountPoint: `${root}/backup`,
      schedule: 'daily at 05:00',
      weeklyGenerations: 4,
      pveConfig: { paths: [`${root}/pve/etc/pve`] },
    },
    offsite: {
      nas: { host: '127.0.0.1', port: 22, identityFile: `${root}/ssh/id`, knownHostsFile: `${root}/ssh/known_hosts` },
      schedule: 'daily at 06:00',
      backupDiskTarget: `${root}/nas/pve-backup`,
      sources: [
        { path: `${root}/nfs`, target: `${root}/nas/nfs` },
        { path: `${root}/nfs-ssd`, target: `${root}/nas/nfs-ssd` },
      ],
      changeLog: `${root}/backup/.nfs-changes.log`,
      fullSync: 'first-sunday',
    },
    ...over,
  };
}

/** Renders host.env for the lab through parsePolicy -> planHost -> renderHostConfig. */
export function writeConfig(lab: Lab, host: HostInput): void {
  const plan = planPolicy({ ...samplePolicy(), host }).host!;
  fs.writeFileSync(lab.configFile, renderHostConfig(plan));
  lab.host = host;
}

export function makeLab(label: string, edit: (host: HostInput) => void = () => undefined): Lab {
  const root = fs.mkdtempSync(`/tmp/bp-host-${label}-`);
  const lab: Lab = {
    root,
    state: path.join(root, 'state'),
    lvm: path.join(root, 'lvm'),
    k8s: path.join(root, 'k8s'),
    run: path.join(root, 'run'),
    backup: path.join(root, 'backup'),
    configFile: path.join(root, 'host.env'),
    host: labHost(root),
  };
  for (const d of [lab.state, lab.lvm, lab.k8s, lab.run, lab.backup, `${root}/pve/etc/pve`, `${root}/nfs`, `${root}/nfs-ssd`, `${root}/nas`, `${root}/ssh`]) {
    fs.mkdirSync(d, { recursive: true });
  }
  // The jobs refuse a backup disk that is not a mount point (an unmounted /mnt/backup is the root fs).
  execFileSync('mount', ['--bind', lab.backup, lab.backup]);
  fs.writeFileSync(path.join(lab.k8s, 'pv.tsv'), '');
  fs.writeFileSync(path.join(lab.k8s, 'workloads.tsv'), '');
  fs.writeFileSync(path.join(root, 'pve/etc/pve/storage.cfg'), 'lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n');
  labs.add(lab);
  const host = labHost(root);
  edit(host);
  writeConfig(lab, host);
  return lab;
}

export function removeLab(lab: Lab): void {
  cleanupSync(lab);
  labs.delete(lab);
}

export function labEnv(lab: Lab, extra: Record<string, string> = {}): Record<string, string> {
  return {
    BACKUP_POLICY_HOST_CONFIG: lab.configFile,
    // The rendered host.env names /var/lib/backup-policy; a non-empty variable wins over the file.
    HOST_STATE_DIR: lab.state,
    LVM_FAKE_DIR: lab.lvm,
    KUBECTL_FAKE_DIR: lab.k8s,
    RUNTIME_DIRECTORY: lab.run,
    ...extra,
  };
}

export function hostRunOptions(lab: Lab, opts: RunOptions = {}): RunOptions {
  return {
    ...opts,
    env: { ...labEnv(lab), ...(opts.env ?? {}) },
    pathPrepend: [...(opts.pathPrepend ?? []), LVM_FAKE_DIR, KUBECTL_FAKE_DIR],
  };
}

/** `bash host-scripts/<script> args...` as the host's systemd would run it (clean environment). */
export function runHost(lab: Lab, script: string, args: string[] = [], opts: RunOptions = {}): Promise<ScriptResult> {
  return runScript(script, args, hostRunOptions(lab, opts));
}

export function startHost(lab: Lab, script: string, args: string[] = [], opts: RunOptions = {}): RunningScript {
  return startScript(script, args, hostRunOptions(lab, opts));
}

/** The fake's own commands (lvs, lvcreate, ..., and `lvm fake-setup`). */
export function lvm(lab: Lab, cmd: string, args: string[]): Promise<string> {
  return runOk(path.join(LVM_FAKE_DIR, cmd), args, { env: { ...process.env, LVM_FAKE_DIR: lab.lvm } });
}

export interface LvRow {
  name: string;
  pool: string;
  origin: string;
  attr: string;
  tags: string[];
  path: string;
}

export async function lvs(lab: Lab, vg = 'pve'): Promise<LvRow[]> {
  const out = await lvm(lab, 'lvs', ['--noheadings', '--separator', '|', '-o', 'lv_name,pool_lv,origin,lv_attr,lv_tags,lv_path', vg]);
  return out
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const [name, pool, origin, attr, tags, p] = l.trim().split('|');
      return { name, pool, origin, attr, tags: tags ? tags.split(',') : [], path: p };
    });
}

/** A PVC volume: an active thin LV holding an ext4 filesystem made from `files`. */
export async function addVolume(lab: Lab, name: string, files: Record<string, string | Buffer> = {}, size = '16M'): Promise<void> {
  const src = fs.mkdtempSync(path.join(lab.root, 'src-'));
  for (const [rel, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
    fs.writeFileSync(path.join(src, rel), data);
  }
  await lvm(lab, 'lvm', ['fake-setup', 'lv', 'pve', 'data', name, size, src]);
  fs.rmSync(src, { recursive: true, force: true });
}

export async function setPoolUsage(lab: Lab, data: number, meta: number): Promise<void> {
  await lvm(lab, 'lvm', ['fake-setup', 'usage', 'pve', 'data', data.toFixed(2), meta.toFixed(2)]);
}

/** The cluster's view: which claim each LV backs, and the workloads mounting them. */
export function setCluster(lab: Lab, pvs: [lv: string, ns: string, claim: string][], workloads: [ns: string, kindName: string, replicas: number, claims: string][] = []): void {
  fs.writeFileSync(path.join(lab.k8s, 'pv.tsv'), pvs.map(([lv, ns, claim]) => `cluster-1/pve-1/local-lvm/${lv}\t${ns}\t${claim}\n`).join(''));
  fs.writeFileSync(path.join(lab.k8s, 'workloads.tsv'), workloads.map((w) => `${w.join('\t')} \n`).join(''));
}

export function kubectlCalls(lab: Lab): string[] {
  const file = path.join(lab.k8s, 'calls.log');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n') : [];
}

/** UTC `YYYYmmddTHHMMSSZ` of a moment `ageSeconds` ago. */
export function tsAgo(ageSeconds: number): string {
  return new Date(Date.now() - ageSeconds * 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

export interface Sshd {
  port: number;
  /** Its keys, config and log; removed by stop(). */
  dir: string;
  /** Private key of the throwaway client identity. */
  identityFile: string;
  /** known_hosts holding the server's key for [127.0.0.1]:port (host keys are checked strictly). */
  knownHostsFile: string;
  stop(): Promise<void>;
}

/**
 * A real sshd on 127.0.0.1 standing in for the NAS (and pfSense): root logs in with a throwaway
 * key; StrictModes is off because the temp dirs are not root-owned 0755 all the way up.
 * `extraConfig`: more sshd_config lines (the benchmark's NAS settings).
 */
export async function startSshd(dir: string, extraConfig: string[] = []): Promise<Sshd> {
  fs.mkdirSync(dir, { recursive: true });
  // Privilege separation directory; sshd refuses to start without it.
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = path.join(dir, 'host_key');
  const identityFile = path.join(dir, 'id');
  for (const key of [hostKey, identityFile]) {
    fs.rmSync(key, { force: true });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'backup-policy-test', '-f', key]);
  }
  fs.copyFileSync(`${identityFile}.pub`, path.join(dir, 'authorized_keys'));
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  fs.writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      ...extraConfig,
      '',
    ].join('\n'),
  );
  const knownHostsFile = path.join(dir, 'known_hosts');
  const [type, key] = fs.readFileSync(`${hostKey}.pub`, 'utf8').split(' ');
  fs.writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${type} ${key}\n`);
  const log = fs.openSync(path.join(dir, 'sshd.log'), 'a');
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  await waitUntil(
    async () => {
      try {
        await runOk('ssh', ['-i', identityFile, '-p', String(port), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHostsFile}`, 'root@127.0.0.1', 'true']);
        return true;
      } catch {
        return false;
      }
    },
    10000,
    'sshd accepting the test key',
  );
  return {
    port,
    dir,
    identityFile,
    knownHostsFile,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
