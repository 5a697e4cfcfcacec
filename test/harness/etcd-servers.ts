/**
 * etcd servers that test/support/servers.ts does not provide: one shaped like kubeadm's (HTTPS with
 * client-certificate authentication, certificates from a test CA made with openssl), and one started
 * from a restored snapshot, to compare with the source.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, runOk, serverCommand, SERVER_VERSIONS, waitUntil } from '../support/servers';

export interface EtcdServer {
  endpoint: string;
  port: number;
  dir: string;
  /** etcdctl with the right endpoint (and client certificate for TLS). */
  ctl(...args: string[]): Promise<string>;
  /** SIGKILL and remove the data. */
  stop(): Promise<void>;
}

export interface EtcdTls extends EtcdServer {
  /** etcdctl's environment for this server, client certificate included. */
  env: Record<string, string>;
  /** The files a kubeadm etcd client Secret holds: ca.crt, tls.crt, tls.key. */
  clientSecret: Record<string, string>;
}

async function spawnEtcd(dir: string, name: string, clientUrl: string, extra: string[], env: Record<string, string>): Promise<{ child: ChildProcess; ctl: (...a: string[]) => Promise<string> }> {
  const peerPort = await freePort();
  const peer = `http://127.0.0.1:${peerPort}`;
  const log = fs.openSync(path.join(dir, 'server.log'), 'a');
  const child = spawn('etcd', [
    '--name', name, '--data-dir', path.join(dir, 'data'),
    '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `${name}=${peer}`,
    '--unsafe-no-fsync', ...extra,
  ], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const ctl = (...args: string[]) => runOk('etcdctl', args, { env: { ...process.env, ETCDCTL_API: '3', ETCDCTL_ENDPOINTS: clientUrl, ...env } });
  try {
    await waitUntil(async () => ctl('endpoint', 'health').then(() => true, () => false), 15000, 'etcd healthy');
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${fs.readFileSync(path.join(dir, 'server.log'), 'utf8').slice(-2000)}`);
  }
  return { child, ctl };
}

function stopper(child: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
}

/** A certificate signed by the CA in `dir`. */
async function issue(dir: string, name: string, subject: string, ext: string): Promise<void> {
  const extFile = path.join(dir, `${name}.ext`);
  fs.writeFileSync(extFile, ext);
  await runOk('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.csr`), '-subj', subject]);
  await runOk('openssl', ['x509', '-req', '-in', path.join(dir, `${name}.csr`), '-CA', path.join(dir, 'ca.crt'), '-CAkey', path.join(dir, 'ca.key'),
    '-CAcreateserial', '-days', '2', '-out', path.join(dir, `${name}.crt`), '-extfile', extFile]);
}

/** etcd on https://127.0.0.1:<port> that requires a client certificate from its CA. */
export async function startEtcdTls(): Promise<EtcdTls> {
  const dir = fs.mkdtempSync('/tmp/bp-etcdtls-');
  const pki = path.join(dir, 'pki');
  fs.mkdirSync(pki);
  await runOk('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=etcd-ca', '-keyout', path.join(pki, 'ca.key'), '-out', path.join(pki, 'ca.crt')]);
  await issue(pki, 'server', '/CN=etcd-server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await issue(pki, 'client', '/CN=kube-etcd-healthcheck-client', 'extendedKeyUsage=clientAuth\n');
  const port = await freePort();
  const endpoint = `https://127.0.0.1:${port}`;
  const clientEnv = { ETCDCTL_CACERT: path.join(pki, 'ca.crt'), ETCDCTL_CERT: path.join(pki, 'client.crt'), ETCDCTL_KEY: path.join(pki, 'client.key') };
  const { child, ctl } = await spawnEtcd(dir, 'tls', endpoint, [
    '--cert-file', path.join(pki, 'server.crt'), '--key-file', path.join(pki, 'server.key'),
    '--client-cert-auth', '--trusted-ca-file', path.join(pki, 'ca.crt'),
  ], clientEnv);
  const read = (f: string) => fs.readFileSync(path.join(pki, f), 'utf8');
  return {
    endpoint, port, dir, ctl,
    env: { ETCDCTL_API: '3', ETCDCTL_ENDPOINTS: endpoint, ...clientEnv },
    clientSecret: { 'ca.crt': read('ca.crt'), 'tls.crt': read('client.crt'), 'tls.key': read('client.key') },
    stop: stopper(child, dir),
  };
}

/**
 * `etcdctl snapshot restore` of a raw snapshot into a new member, then that member started, both
 * from the given etcd version (SERVER_VERSIONS.etcd; this machine's by default).
 */
export async function startEtcdFromSnapshot(snapshot: string, version: string = SERVER_VERSIONS.etcd[0]): Promise<{ server: EtcdServer; restoreSeconds: number }> {
  const cmd = (...argv: string[]) => serverCommand('etcd', version, argv);
  const dir = fs.mkdtempSync('/tmp/bp-etcdrestore-');
  const started = Date.now();
  const peerPort = await freePort();
  // The restored member is named and addressed as it will be started, so that its membership data
  // agrees with its flags.
  await runOk(...cmd('etcdctl', 'snapshot', 'restore', snapshot, '--data-dir', path.join(dir, 'data'), '--name', 'restored',
    '--initial-cluster', `restored=http://127.0.0.1:${peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`),
  { env: { ...process.env, ETCDCTL_API: '3' } });
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const log = fs.openSync(path.join(dir, 'server.log'), 'a');
  const child = spawn(...cmd('etcd', '--name', 'restored', '--data-dir', path.join(dir, 'data'),
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`, '--unsafe-no-fsync'), { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const ctl = (...args: string[]) => runOk(...cmd('etcdctl', ...args), { env: { ...process.env, ETCDCTL_API: '3', ETCDCTL_ENDPOINTS: endpoint } });
  await waitUntil(async () => ctl('endpoint', 'health').then(() => true, () => false), 15000, 'restored etcd healthy').catch((e: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n${fs.readFileSync(path.join(dir, 'server.log'), 'utf8').slice(-2000)}`);
  });
  return { server: { endpoint, port, dir, ctl, stop: stopper(child, dir) }, restoreSeconds: (Date.now() - started) / 1000 };
}

/**
 * Every key with value, create/mod revision and version, the store's current revision, and the
 * values of chosen keys at chosen past revisions (what "revisions survive" means to a client).
 */
export async function etcdFingerprint(ctl: (...a: string[]) => Promise<string>, history: { key: string; rev: number }[]): Promise<{ revision: number; keys: string[]; history: string[] }> {
  const out = JSON.parse(await ctl('get', '', '--prefix', '-w', 'json'));
  const keys = (out.kvs ?? []).map((kv: any) =>
    [Buffer.from(kv.key, 'base64').toString('hex'), kv.create_revision, kv.mod_revision, kv.version, Buffer.from(kv.value ?? '', 'base64').toString('hex'), kv.lease ?? 0].join(' '),
  );
  const past: string[] = [];
  for (const h of history) {
    const r = JSON.parse(await ctl('get', h.key, `--rev=${h.rev}`, '-w', 'json'));
    past.push(`${h.key}@${h.rev} ${(r.kvs ?? []).map((kv: any) => Buffer.from(kv.value, 'base64').toString('hex')).join(',')}`);
  }
  return { revision: Number(out.header.revision), keys: keys.sort(), history: past };
}
