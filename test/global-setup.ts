/**
 * Jest global setup: builds (or finds cached) the root filesystems of the job images before any
 * test file runs, once per `jest` invocation. The harness runs every CronJob inside backup-tools;
 * the servers of the newer major versions run from backup-drill (test/support/servers.ts).
 */
import { ensureRootfs } from './support/rootfs';

export default async function globalSetup(): Promise<void> {
  // One after the other: two mmdebstrap runs at once fight over two cores for no gain.
  for (const image of ['backup-tools', 'backup-drill'] as const) {
    const r = await ensureRootfs(image);
    process.stderr.write(`\n${image} root filesystem: ${r.built ? 'built' : 'cached'} in ${r.seconds.toFixed(3)} s (${r.path})\n`);
  }
}
