/**
 * A minimal Redis client speaking RESP2 over TCP, binary-safe both ways. redis-cli escapes or
 * mangles non-UTF-8 values in its output, which would hide exactly the differences a key-by-key
 * comparison of a restore must see.
 */
import * as net from 'node:net';

export type Reply = Buffer | number | null | Reply[] | { error: string };

export class RespClient {
  private buf: Buffer = Buffer.alloc(0);
  // A queue with a moving head: Array.shift is linear, and a pipelined comparison of 100k keys
  // keeps hundreds of thousands of replies waiting.
  private waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private head = 0;
  // Commands issued in one tick go out in one write: a write per command costs more than Redis.
  private outgoing: (string | Buffer)[] = [];
  private closed?: Error;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.drain();
    });
    const fail = (e: Error) => {
      this.closed = e;
      for (const w of this.waiting.slice(this.head)) w.reject(e);
      this.waiting = [];
      this.head = 0;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  static connect(port: number, host = '127.0.0.1', password?: string): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host, async () => {
        socket.off('error', reject);
        const client = new RespClient(socket);
        try {
          if (password !== undefined) await client.ok('AUTH', password);
          resolve(client);
        } catch (e) {
          reject(e);
        }
      });
      socket.once('error', reject);
    });
  }

  /** Sends one command; resolves with its reply (error replies resolve as `{ error }`). */
  call(...args: (string | Buffer | number)[]): Promise<Reply> {
    if (this.closed) return Promise.reject(this.closed);
    // Text commands are encoded as one string (far less garbage than a Buffer per argument).
    let encoded: string | Buffer;
    if (args.some((a) => Buffer.isBuffer(a))) {
      const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
      for (const a of args) {
        const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
        parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
      }
      encoded = Buffer.concat(parts);
    } else {
      encoded = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`;
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (this.outgoing.length === 0) {
        setImmediate(() => {
          const out = this.outgoing.map((o) => (typeof o === 'string' ? Buffer.from(o) : o));
          this.outgoing = [];
          this.socket.write(Buffer.concat(out));
        });
      }
      this.outgoing.push(encoded);
    });
  }

  /** Like `call`, but rejects on an error reply. */
  async ok(...args: (string | Buffer | number)[]): Promise<Reply> {
    const r = await this.call(...args);
    if (r && typeof r === 'object' && !Buffer.isBuffer(r) && !Array.isArray(r)) throw new Error(`${args[0]}: ${r.error}`);
    return r;
  }

  close(): void {
    this.socket.destroy();
  }

  private drain(): void {
    let at = 0;
    while (this.head < this.waiting.length) {
      const parsed = parse(this.buf, at);
      if (!parsed) break;
      at = parsed.end;
      this.waiting[this.head++].resolve(parsed.value);
    }
    this.buf = this.buf.subarray(at);
    if (this.head === this.waiting.length) {
      this.waiting = [];
      this.head = 0;
    }
  }
}

function parse(buf: Buffer, at: number): { value: Reply; end: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[at]);
  const line = buf.toString('utf8', at + 1, eol);
  switch (type) {
    case '+':
      return { value: Buffer.from(line), end: eol + 2 };
    case '-':
      return { value: { error: line }, end: eol + 2 };
    case ':':
      return { value: Number(line), end: eol + 2 };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      if (buf.length < eol + 2 + n + 2) return undefined;
      return { value: buf.subarray(eol + 2, eol + 2 + n), end: eol + 2 + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      const items: Reply[] = [];
      let pos = eol + 2;
      for (let i = 0; i < n; i++) {
        const item = parse(buf, pos);
        if (!item) return undefined;
        items.push(item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default:
      throw new Error(`unexpected RESP type ${JSON.stringify(type)}`);
  }
}

/** A reply as comparable text: buffers as hex, so binary values compare exactly. */
export function show(r: Reply): string {
  if (r === null) return 'nil';
  if (Buffer.isBuffer(r)) return `0x${r.toString('hex')}`;
  if (typeof r === 'number') return String(r);
  if (Array.isArray(r)) return `[${r.map(show).join(',')}]`;
  return `ERR ${r.error}`;
}

const TYPES_LUA = "local r = {} for i, k in ipairs(KEYS) do r[i] = redis.call('TYPE', k).ok end return r";
const PTTLS_LUA = "local r = {} for i, k in ipairs(KEYS) do r[i] = redis.call('PTTL', k) end return r";

/**
 * Every key of every database with its type and full value (hash fields, set members sorted; lists,
 * sorted sets with scores and streams with their IDs and consumer groups in order), and whether it
 * has a TTL. TTLs themselves are returned separately: they count down.
 */
export async function redisSnapshot(c: RespClient, dbs: number[]): Promise<{ values: Map<string, string>; ttls: Map<string, number> }> {
  const values = new Map<string, string>();
  const ttls = new Map<string, number>();
  for (const db of dbs) {
    await c.ok('SELECT', db);
    let cursor = '0';
    const keys: Buffer[] = [];
    do {
      const [next, batch] = (await c.ok('SCAN', cursor, 'COUNT', 1000)) as [Buffer, Buffer[]];
      cursor = next.toString();
      keys.push(...batch);
    } while (cursor !== '0');
    // Types, TTLs and string values in batches of 1000 keys (a Lua loop, MGET): a command per key
    // costs seconds of client-side garbage collection for 100k keys.
    const types: string[] = [];
    const pttls: number[] = [];
    const raw: Reply[] = [];
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      types.push(...((await c.ok('EVAL', TYPES_LUA, batch.length, ...batch)) as Buffer[]).map(String));
      pttls.push(...((await c.ok('EVAL', PTTLS_LUA, batch.length, ...batch)) as number[]));
    }
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const strings = batch.filter((_, j) => types[i + j] === 'string');
      const got = strings.length ? ((await c.ok('MGET', ...strings)) as Reply[]) : [];
      let next = 0;
      for (let j = 0; j < batch.length; j++) {
        const key = batch[j];
        switch (types[i + j]) {
          case 'string':
            raw.push(got[next++]);
            break;
          case 'hash': {
            const f = (await c.ok('HGETALL', key)) as Buffer[];
            const pairs: string[] = [];
            for (let k = 0; k < f.length; k += 2) pairs.push(`${show(f[k])}=${show(f[k + 1])}`);
            raw.push(Buffer.from(pairs.sort().join(';')));
            break;
          }
          case 'list':
            raw.push(await c.ok('LRANGE', key, 0, -1));
            break;
          case 'set':
            raw.push(Buffer.from(((await c.ok('SMEMBERS', key)) as Buffer[]).map(show).sort().join(';')));
            break;
          case 'zset':
            raw.push(await c.ok('ZRANGE', key, 0, -1, 'WITHSCORES'));
            break;
          case 'stream':
            raw.push([await c.ok('XRANGE', key, '-', '+'), await c.ok('XINFO', 'GROUPS', key)]);
            break;
          default:
            throw new Error(`unexpected type ${types[i + j]}`);
        }
      }
    }
    keys.forEach((key, i) => {
      const name = `${db}:${show(key)}`;
      values.set(name, `${types[i]} ttl:${pttls[i] >= 0 ? 'yes' : 'no'} ${show(raw[i])}`);
      if (pttls[i] >= 0) ttls.set(name, pttls[i]);
    });
  }
  return { values, ttls };
}
