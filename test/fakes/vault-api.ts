/**
 * FAKE VAULT: a Node HTTP server answering Vault's raft snapshot endpoints. It is a fake because
 * HashiCorp Vault has no Debian package and its binaries cannot be downloaded on the test machines
 * (the image carries no Vault either: the jobs call the HTTP API with curl).
 *
 * What it keeps of the real API (https://developer.hashicorp.com/vault/api-docs/system/storage/raft):
 * - `GET /v1/sys/storage/raft/snapshot` (save), `POST /v1/sys/storage/raft/snapshot` and
 *   `POST /v1/sys/storage/raft/snapshot-force` (restore); anything else is a 404 (a typo in the path
 *   must fail).
 * - The token in the `X-Vault-Token` header; a missing or wrong one is `403 {"errors":["permission denied"]}`.
 *   A token in the query string is refused as well (Vault ignores it there and the job must not log it).
 * - Save, on the active node: `200` with the snapshot streamed in chunks (no Content-Length: Vault
 *   writes it as it is produced), `Cache-Control: no-store` as on every Vault response. The body is
 *   what a raft snapshot is: a gzip'd tar of meta.json, state.bin, SHA256SUMS and SHA256SUMS.sealed,
 *   made from the node's current state (`state`, `index`).
 * - Restore, on the active node: Vault reads the archive, checks meta.json and state.bin against
 *   SHA256SUMS, and (without -force) opens SHA256SUMS.sealed with its own seal: a snapshot of another
 *   cluster fails that with `400 {"errors":["could not verify hash file, possibly the snapshot is
 *   using a different set of unseal keys; use the snapshot-force API to bypass this check"]}` (the
 *   message of Vault's handleStorageRaftSnapshotWrite for a Shamir seal). Here the seal is an HMAC of
 *   SHA256SUMS with the node's `clusterKey`, so nodes with one key are one cluster. Then it installs
 *   the snapshot (the node's state becomes the snapshot's) and answers `204` with no body. A damaged
 *   archive is a `500` whose message is modelled on Vault's ("failed to read snapshot file: ...").
 * - A standby answers `307` with `Location: <active api_addr><request URI>` and no body, for a save or
 *   a restore alike (a real standby may also forward the request to the active node over its cluster
 *   port; the 307 is what a client has to handle). A request with `Expect: 100-continue` that is
 *   answered without its body (standby, sealed, refused token) gets its final status at once and the
 *   connection closed, as Go's HTTP server does; otherwise `100 Continue` first.
 * - Sealed: `503 {"errors":["Vault is sealed"]}`. Internal error: `500 {"errors":[...]}`.
 * Failures the network or the server produce while a snapshot streams: the connection cut after
 * half the bytes (`truncated`), a declared Content-Length not reached (`short`), and bodies that
 * arrive complete but are wrong (`empty`, `corrupt`: a member not matching SHA256SUMS, `cut-gzip`:
 * half a gzip stream delivered as if whole, as a misbehaving proxy would).
 */
import { execFileSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export type VaultAnswer = 'ok' | 'standby' | 'sealed' | 'error' | 'truncated' | 'short' | 'empty' | 'corrupt' | 'cut-gzip';

export const SNAPSHOT_PATH = '/v1/sys/storage/raft/snapshot';
export const SNAPSHOT_FORCE_PATH = '/v1/sys/storage/raft/snapshot-force';
/** The seal key every node has unless told otherwise: fake nodes are one cluster by default. */
export const DEFAULT_CLUSTER_KEY = 'fake-cluster-unseal-keys';

export interface VaultRequest {
  method: string;
  url: string;
  /** The X-Vault-Token header was present and equal to the node's token. */
  tokenOk: boolean;
  status: number;
}

export interface VaultNode {
  /** `http://<host>:<port>`, the node's api_addr. */
  address: string;
  port: number;
  /** Every request the node received, in order. */
  requests: VaultRequest[];
  /** sha256 of the last snapshot body this node served in full. */
  servedSha256?: string;
  answer: VaultAnswer;
  /** The raft state (state.bin of the node's snapshots) and its index; a restore replaces both. */
  state: Buffer;
  index: number;
  /** Snapshots this node installed (successful restores). */
  restores: number;
  /** Changes the state, as writes to Vault after a snapshot would. */
  write(): void;
  stop(): Promise<void>;
}

export interface VaultNodeOptions {
  token: string;
  answer?: VaultAnswer;
  /** Listen address (loopback); standby and active may share a port on different addresses. */
  host?: string;
  port?: number;
  /** For `standby`: the active node's api_addr the redirect points to. */
  activeAddress?: string;
  /** Size of state.bin in the snapshot (default 256 KiB). */
  stateBytes?: number;
  /** The node's seal (its cluster's unseal keys): it opens SHA256SUMS.sealed of its own cluster only. */
  clusterKey?: string;
}

/** The sealed sums: the node's seal over SHA256SUMS (Vault encrypts them with its barrier keyring). */
function sealSums(sums: string, clusterKey: string): string {
  return `vault:v1:${createHmac('sha256', clusterKey).update(sums).digest('base64')}`;
}

/** A raft snapshot of `state`; `corrupt` flips bytes of state.bin after its checksum is taken. */
export function makeSnapshot(state: Buffer, index: number, clusterKey = DEFAULT_CLUSTER_KEY, corrupt = false): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-vault-snap-'));
  try {
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ ID: `fake-snapshot-${index}`, Index: index, Term: 3, Version: 1 }));
    const stored = Buffer.from(state);
    fs.writeFileSync(path.join(dir, 'state.bin'), stored);
    const sum = (f: string) => createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex');
    const sums = `${sum('meta.json')}  meta.json\n${sum('state.bin')}  state.bin\n`;
    fs.writeFileSync(path.join(dir, 'SHA256SUMS'), sums);
    fs.writeFileSync(path.join(dir, 'SHA256SUMS.sealed'), sealSums(sums, clusterKey));
    if (corrupt) {
      stored.write('flipped', 100);
      fs.writeFileSync(path.join(dir, 'state.bin'), stored);
    }
    return execFileSync('tar', ['-C', dir, '-cz', 'meta.json', 'state.bin', 'SHA256SUMS', 'SHA256SUMS.sealed'], { maxBuffer: 1 << 30 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** What Vault finds in an uploaded snapshot: its state, or why it refuses it (status and message). */
function readSnapshot(body: Buffer, clusterKey: string, force: boolean): { state: Buffer; index: number } | { status: number; message: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-vault-restore-'));
  try {
    fs.writeFileSync(path.join(dir, 'upload'), body);
    try {
      execFileSync('tar', ['-C', dir, '-xzf', path.join(dir, 'upload')], { stdio: 'ignore' });
    } catch {
      return { status: 500, message: 'failed to read snapshot file: failed to read or write snapshot data: unexpected EOF' };
    }
    const read = (f: string) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f)) : undefined);
    const sums = read('SHA256SUMS')?.toString('utf8');
    const meta = read('meta.json');
    const state = read('state.bin');
    if (sums === undefined || meta === undefined || state === undefined) return { status: 500, message: 'failed to read snapshot file: missing files in the snapshot archive' };
    for (const line of sums.trim().split('\n')) {
      const [want, name] = line.split(/\s+/);
      const got = createHash('sha256').update(read(name) ?? Buffer.alloc(0)).digest('hex');
      if (got !== want) return { status: 500, message: `failed to read snapshot file: hash check failed for "${name}"` };
    }
    if (!force && read('SHA256SUMS.sealed')?.toString('utf8') !== sealSums(sums, clusterKey)) {
      return { status: 400, message: 'could not verify hash file, possibly the snapshot is using a different set of unseal keys; use the snapshot-force API to bypass this check' };
    }
    return { state, index: Number(JSON.parse(meta.toString('utf8')).Index) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function json(res: http.ServerResponse, status: number, errors: string[]): void {
  const body = JSON.stringify({ errors });
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** Starts one fake Vault node. */
export async function startVaultNode(opts: VaultNodeOptions): Promise<VaultNode> {
  const host = opts.host ?? '127.0.0.1';
  const clusterKey = opts.clusterKey ?? DEFAULT_CLUSTER_KEY;
  const requests: VaultRequest[] = [];
  const node: VaultNode = {
    address: '', port: 0, requests, answer: opts.answer ?? 'ok',
    // Raft state is mostly encrypted values: it hardly compresses.
    state: randomBytes(opts.stateBytes ?? 262144), index: 42, restores: 0,
    write: () => {
      node.state = randomBytes(node.state.length);
      node.index += 1;
    },
    stop: async () => undefined,
  };
  // The snapshots of the current state, made once per state (a save streams the same bytes each time).
  let made: { state: Buffer; good: Buffer; corrupt: Buffer } | undefined;
  const snapshots = () => {
    if (made?.state !== node.state) made = { state: node.state, good: makeSnapshot(node.state, node.index, clusterKey), corrupt: makeSnapshot(node.state, node.index, clusterKey, true) };
    return made;
  };

  /** The answer given before the body is read (or undefined when the request goes on), logged. */
  const early = (req: http.IncomingMessage, res: http.ServerResponse, extra: Record<string, string> = {}): boolean => {
    const url = new URL(req.url ?? '/', 'http://vault');
    const tokenOk = req.headers['x-vault-token'] === opts.token;
    const log = (status: number) => requests.push({ method: req.method ?? '', url: req.url ?? '', tokenOk, status });
    const save = url.pathname === SNAPSHOT_PATH && req.method === 'GET';
    const restore = (url.pathname === SNAPSHOT_PATH || url.pathname === SNAPSHOT_FORCE_PATH) && req.method === 'POST';
    for (const [k, v] of Object.entries(extra)) res.setHeader(k, v);
    if (!save && !restore) {
      log(404);
      json(res, 404, []);
      return true;
    }
    if (node.answer === 'sealed') {
      log(503);
      json(res, 503, ['Vault is sealed']);
      return true;
    }
    if (node.answer === 'standby') {
      // Vault's standby redirect happens before the token is checked: the active node checks it.
      log(307);
      res.writeHead(307, { Location: `${opts.activeAddress}${req.url}`, 'Cache-Control': 'no-store' });
      res.end();
      return true;
    }
    if (!tokenOk || url.search.includes(opts.token)) {
      log(403);
      json(res, 403, ['permission denied']);
      return true;
    }
    if (node.answer === 'error') {
      log(500);
      json(res, 500, ['1 error occurred:\n\t* raft snapshot failed: no space left on device\n\n']);
      return true;
    }
    return false;
  };

  /** A request the early checks let through: a save streamed, a restore read and installed. */
  const proceed = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://vault');
    const log = (status: number) => requests.push({ method: req.method ?? '', url: req.url ?? '', tokenOk: true, status });
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const result = readSnapshot(Buffer.concat(chunks), clusterKey, url.pathname === SNAPSHOT_FORCE_PATH);
        if ('status' in result) {
          log(result.status);
          return json(res, result.status, [result.message]);
        }
        node.state = result.state;
        node.index = result.index;
        node.restores += 1;
        log(204);
        res.writeHead(204, { 'Cache-Control': 'no-store' });
        res.end();
      });
      return;
    }
    log(200);
    const { good, corrupt } = snapshots();
    const body = node.answer === 'corrupt' ? corrupt : node.answer === 'empty' ? Buffer.alloc(0) : node.answer === 'cut-gzip' ? good.subarray(0, good.length >> 1) : good;
    if (node.answer === 'short') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-store', 'Content-Length': body.length });
      res.write(body.subarray(0, body.length >> 1));
      // Close without sending the rest: the client sees fewer bytes than announced.
      res.socket?.end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-store' });
    if (node.answer === 'truncated') {
      res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
      return;
    }
    // Streamed in pieces, as Vault writes the snapshot while it is being produced.
    const piece = 16384;
    for (let i = 0; i < body.length; i += piece) res.write(body.subarray(i, i + piece));
    res.end(() => {
      node.servedSha256 = createHash('sha256').update(body).digest('hex');
    });
  };

  const server = http.createServer((req, res) => {
    if (early(req, res)) {
      // The body, if the client sends one anyway, is read and dropped.
      req.resume();
      return;
    }
    proceed(req, res);
  });
  // Expect: 100-continue (curl sends it with large uploads): an answer that needs no body is given
  // at once and the connection closed, as Go's server does; otherwise the client may send the body.
  server.on('checkContinue', (req, res) => {
    if (early(req, res, { Connection: 'close' })) return;
    res.writeContinue();
    proceed(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  node.port = (server.address() as AddressInfo).port;
  node.address = `http://${host}:${node.port}`;
  node.stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return node;
}
