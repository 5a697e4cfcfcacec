/**
 * Ways to break a backup on purpose, each as close as this machine allows to how it happens in the
 * cluster: a full filesystem, a lock held by another run, a server killed mid-dump, an RDB stream
 * cut short on the wire. And the bookkeeping that proves nothing was lost: a content map of the
 * backup directory before and after.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { runOk, waitUntil } from '../support/servers';
import { isAlive, processTree } from '../support/run-script';

/** Every file under `dir` (relative path -> sha256), directories excluded. */
export function dirState(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!fs.existsSync(dir)) return out;
  for (const rel of (fs.readdirSync(dir, { recursive: true }) as string[]).map(String).sort()) {
    const abs = path.join(dir, rel);
    if (fs.lstatSync(abs).isFile()) out.set(rel, createHash('sha256').update(fs.readFileSync(abs)).digest('hex'));
  }
  return out;
}

/**
 * A tmpfs of just the size for `content` (copied in) plus `freeBytes`, mounted on the host and
 * owned by `uid`: the "NFS" volume of a job that will run out of space.
 */
export async function smallFilesystem(content: string, uid: number, freeBytes: number): Promise<{ dir: string; unmount(): Promise<void> }> {
  const dir = fs.mkdtempSync('/tmp/bp-full-');
  let used = 0;
  for (const [rel] of dirState(content)) used += Math.ceil(fs.statSync(path.join(content, rel)).size / 4096 + 1) * 4096;
  const size = used + 2 * 1048576;
  await runOk('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700,uid=${uid},gid=${uid}`, 'tmpfs', dir]);
  try {
    await runOk('cp', ['-a', `${content}/.`, dir]);
    await runOk('chown', ['-R', `${uid}:${uid}`, dir]);
    const avail = Number(fs.statfsSync(dir).bavail) * Number(fs.statfsSync(dir).bsize);
    // Everything but a few KiB is taken: enough for the lock file, not for any backup.
    await runOk('fallocate', ['-l', String(avail - freeBytes), path.join(dir, 'filler')]);
  } catch (e) {
    await runOk('umount', [dir]).catch(() => undefined);
    throw e;
  }
  return {
    dir,
    async unmount() {
      await runOk('umount', [dir]);
      fs.rmdirSync(dir);
    },
  };
}

/**
 * Another run in progress: a process holding the job's own lock file (`flock`, as the library takes
 * it). The file is created owned by the job's user, as the first run would have left it.
 */
export async function holdLock(lockFile: string, uid: number): Promise<{ release(): Promise<void> }> {
  if (!fs.existsSync(lockFile)) {
    fs.writeFileSync(lockFile, '', { mode: 0o600 });
    fs.chownSync(lockFile, uid, uid);
  }
  const child: ChildProcess = spawn('flock', ['-n', lockFile, 'sleep', '300'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr!.on('data', (d: Buffer) => (errors += d.toString()));
  await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`flock holder exited ${child.exitCode}: ${errors}`);
      // Held when a second non-blocking attempt fails.
      return (await new Promise<number | null>((r) => spawn('flock', ['-n', lockFile, 'true']).on('exit', r))) !== 0;
    },
    10000,
    `lock on ${lockFile} held`,
  );
  return {
    async release() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** SIGKILL to a server's main process and all its children, at once (a node or OOM kill). */
export async function killProcessTree(pid: number): Promise<void> {
  const pids = processTree(pid);
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await waitUntil(() => pids.every((p) => !isAlive(p)), 10000, 'server processes gone');
}

/** The parent PID of a process (a PostgreSQL backend's parent is the postmaster). */
export function parentPid(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/**
 * A man in the middle between a Redis client and server that cuts the RDB of a full sync short while
 * telling the client it is complete: the `$<length>` header of the (disk-based) sync payload is
 * rewritten to half and only that half is forwarded. It listens on `listenHost` at the server's own
 * port, so the job's host name can be pointed at it without changing the synthesized port.
 */
export async function truncatingRdbProxy(listenHost: string, port: number): Promise<{ close(): Promise<void>; truncated(): boolean }> {
  let didTruncate = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    let pending = Buffer.alloc(0);
    let remaining = -1;
    upstream.on('data', (d: Buffer) => {
      if (remaining === 0) return;
      if (remaining > 0) {
        const part = d.subarray(0, remaining);
        remaining -= part.length;
        client.write(part);
        return;
      }
      pending = Buffer.concat([pending, d]);
      // Replies before the payload (+OK to AUTH and REPLCONF, keep-alive newlines) pass unchanged.
      for (;;) {
        if (pending.length && pending[0] === 0x0a) {
          client.write(pending.subarray(0, 1));
          pending = pending.subarray(1);
          continue;
        }
        const eol = pending.indexOf('\r\n');
        if (eol < 0) return;
        const line = pending.toString('latin1', 0, eol);
        const m = /^\$(\d+)$/.exec(line);
        if (!m) {
          client.write(pending.subarray(0, eol + 2));
          pending = pending.subarray(eol + 2);
          continue;
        }
        remaining = Math.floor(Number(m[1]) / 2);
        didTruncate = true;
        client.write(`$${remaining}\r\n`);
        const rest = pending.subarray(eol + 2);
        pending = Buffer.alloc(0);
        const part = rest.subarray(0, remaining);
        remaining -= part.length;
        client.write(part);
        return;
      }
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, listenHost, () => resolve());
  });
  return {
    truncated: () => didTruncate,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
