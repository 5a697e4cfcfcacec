import { createHash } from 'node:crypto';
import { HOST_BIN_DIR, HOST_INSTALLER, HOST_LIBRARIES, type HostPlan } from '../plan/host-plan';
import { renderHostConfig, renderHostUnits, unitPath } from './systemd';

/**
 * The host bundle: every file the Proxmox host needs (scripts, host.env, units), a MANIFEST saying
 * where each goes, and install.sh, which installs by MANIFEST and enables the timers. The same
 * bundle is what the null provider uploads and runs, and what `backup-policy host-bundle` writes
 * for hosts managed another way (Ansible, by hand): one install path for both.
 */

export interface BundleFile {
  /** File name inside the bundle (flat: no directories). */
  name: string;
  mode: '0755' | '0644';
  content: string;
}

/**
 * MANIFEST lines, read by install.sh:
 *   file <mode> <destination> <bundle file>
 *   link <path> <target>          (a command on PATH for operators)
 *   timer <unit>                  (enabled and started)
 *   service <unit> <file>...      (enabled and started; restarted when one of the files changed)
 */
function manifest(plan: HostPlan, units: string[]): string {
  const lines = [
    ...plan.scripts.map((s) => `file 0755 ${plan.installDir}/${s} ${s}`),
    `file 0644 ${plan.configPath} host.env`,
    ...units.map((u) => `file 0644 ${unitPath(u)} ${u}`),
    // The spec's runbooks call the jobs by name: `lvm-pvc-snapshot restore ...`.
    ...[...plan.jobs, plan.tracker].map((j) => `link ${HOST_BIN_DIR}/${j.name} ${plan.installDir}/${j.script}`),
    // And `host-restore files|sqlite ...`, which the runbooks and `backup-policy host-restore` print.
    `link ${plan.restore.link} ${plan.restore.path}`,
    ...plan.jobs.map((j) => `timer ${j.name}.timer`),
    `service ${plan.tracker.name}.service ${[...HOST_LIBRARIES.map((l) => `${plan.installDir}/${l}`), `${plan.installDir}/${plan.tracker.script}`, plan.configPath, unitPath(`${plan.tracker.name}.service`)].join(' ')}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Pure: the bundle's files in a stable order. `readScript` supplies host-scripts/ contents. */
export function renderHostBundle(plan: HostPlan, readScript: (name: string) => string): BundleFile[] {
  const units = renderHostUnits(plan);
  return [
    { name: 'install.sh', mode: '0755', content: readScript(HOST_INSTALLER) },
    { name: 'MANIFEST', mode: '0644', content: manifest(plan, Object.keys(units)) },
    ...plan.scripts.map((s): BundleFile => ({ name: s, mode: '0755', content: readScript(s) })),
    { name: 'host.env', mode: '0644', content: renderHostConfig(plan) },
    ...Object.entries(units).map(([name, content]): BundleFile => ({ name, mode: '0644', content })),
  ];
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** One hash over every file's name, mode and content: changes when anything in the bundle does. */
export function bundleHash(files: BundleFile[]): string {
  return sha256(files.map((f) => `${f.name}\0${f.mode}\0${sha256(f.content)}\n`).join(''));
}
