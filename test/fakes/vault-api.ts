/**
 * FAKE VAULT: a Node HTTP server answering Vault's raft snapshot endpoint. It is a fake because
 * HashiCorp Vault has no Debian package and its binaries cannot be downloaded on the test machines
 * (the image carries no Vault either: the job calls the HTTP API with curl).
 *
 * What it keeps of the real API (https://developer.hashicorp.com/vault/api-docs/system/storage/raft):
 * - `GET /v1/sys/storage/raft/snapshot` only; anything else is a 404 (a typo in the path must fail).
 * - The token in the `X-Vault-Token` header; a missing or wrong one is `403 {"errors":["permission denied"]}`.
 *   A token in the query string is refused as well (Vault ignores it there and the job must not log it).
 * - On the active node, `200` with the snapshot streamed in chunks (no Content-Length: Vault writes
 *   it as it is produced), `Cache-Control: no-store` as on every Vault response. The body is what a
 *   raft snapshot is: a gzip'd tar of meta.json, state.bin, SHA256SUMS and SHA256SUMS.sealed.
 * - A standby answers `307` with `Location: <active api_addr><request URI>` and no body.
 * - Sealed: `503 {"errors":["Vault is sealed"]}`. Internal error: `500 {"errors":[...]}`.
 * Failures the network or the server produce while a snapshot streams: the connection cut after
 * half the bytes (`truncated`), a declared Content-Length not reached (`short`), and bodies that
 * arrive complete but are wrong (`empty`, `corrupt`: a member not matching SHA256SUMS, `cut-gzip`:
 * half a gzip stream delivered as if whole, as a misbehaving proxy would).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export type VaultAnswer = 'ok' | 'standby' | 'sealed' | 'error' | 'truncated' | 'short' | 'empty' | 'corrupt' | 'cut-gzip';

export const SNAPSHOT_PATH = '/v1/sys/storage/raft/snapshot';

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
}

/** A raft-snapshot-shaped archive; `corrupt` flips bytes of state.bin after its checksum is taken. */
export function makeSnapshot(stateBytes: number, corrupt = false): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-vault-snap-'));
  try {
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ ID: 'fake-snapshot', Index: 42, Term: 3, Version: 1 }));
    // Raft state is mostly encrypted values: it hardly compresses.
    const state = randomBytes(stateBytes);
    fs.writeFileSync(path.join(dir, 'state.bin'), state);
    const sum = (f: string) => createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex');
    fs.writeFileSync(path.join(dir, 'SHA256SUMS'), `${sum('meta.json')}  meta.json\n${sum('state.bin')}  state.bin\n`);
    fs.writeFileSync(path.join(dir, 'SHA256SUMS.sealed'), 'vault:v1:fake-sealed-sums');
    if (corrupt) {
      state.write('flipped', 100);
      fs.writeFileSync(path.join(dir, 'state.bin'), state);
    }
    return execFileSync('tar', ['-C', dir, '-cz', 'meta.json', 'state.bin', 'SHA256SUMS', 'SHA256SUMS.sealed'], { maxBuffer: 1 << 30 });
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
  const good = makeSnapshot(opts.stateBytes ?? 262144);
  const corrupt = makeSnapshot(opts.stateBytes ?? 262144, true);
  const requests: VaultRequest[] = [];
  const node: VaultNode = { address: '', port: 0, requests, answer: opts.answer ?? 'ok', stop: async () => undefined };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://vault');
    const tokenOk = req.headers['x-vault-token'] === opts.token;
    const log = (status: number) => requests.push({ method: req.method ?? '', url: req.url ?? '', tokenOk, status });
    if (url.pathname !== SNAPSHOT_PATH || req.method !== 'GET') {
      log(404);
      return json(res, 404, []);
    }
    if (node.answer === 'sealed') {
      log(503);
      return json(res, 503, ['Vault is sealed']);
    }
    if (node.answer === 'standby') {
      // Vault's standby redirect happens before the token is checked: the active node checks it.
      log(307);
      res.writeHead(307, { Location: `${opts.activeAddress}${req.url}`, 'Cache-Control': 'no-store' });
      return res.end();
    }
    if (!tokenOk || url.search.includes(opts.token)) {
      log(403);
      return json(res, 403, ['permission denied']);
    }
    if (node.answer === 'error') {
      log(500);
      return json(res, 500, ['1 error occurred:\n\t* raft snapshot failed: no space left on device\n\n']);
    }
    log(200);
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
