/**
 * Realistic, text-heavy data for the pipeline benchmark, generated once per machine and cached.
 *
 * Compression ratios and dump speeds depend on the data far more than on anything we control:
 * pgbench's padding compresses about 100x and makes every compressor look free. These rows are
 * built from a Zipf-distributed vocabulary of pseudo-words (some with non-ASCII letters), JSON
 * documents and timestamps, spread over several tables in three databases, so a dump of it
 * compresses about like a real application's (zstd about 3x, gzip a little less).
 *
 * The rows are written once as tab-separated files (the text format both PostgreSQL's COPY and
 * MariaDB's LOAD DATA read), deterministic from a fixed seed, then loaded into each engine. The
 * generator does not double a table with `insert ... select` (what lab-notes suggests for SQL-side
 * generation): every row here is distinct, so no compressor window can find whole repeated rows.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** mulberry32: small, fast and deterministic, so every machine benchmarks the same bytes. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYLLABLES = [
  'ka', 'lo', 'mi', 'ren', 'sta', 'vor', 'thu', 'el', 'an', 'quis', 'dor', 'bel', 'fan', 'gri', 'hol',
  'jen', 'ko', 'lu', 'mar', 'nes', 'or', 'pra', 'ri', 'sen', 'tor', 'ul', 'ver', 'wy', 'xe', 'za',
  'bré', 'ül', 'ça', 'øn', 'ár', 'ßo', 'in', 'er', 'ti', 'ma',
];

/** A vocabulary of `size` distinct pseudo-words and a sampler with Zipf(1) frequencies. */
function vocabulary(size: number, random: () => number): { words: string[]; sample: () => string } {
  const seen = new Set<string>();
  const words: string[] = [];
  while (words.length < size) {
    const n = 1 + Math.floor(random() * 4);
    let w = '';
    for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(random() * SYLLABLES.length)];
    if (!seen.has(w)) {
      seen.add(w);
      words.push(w);
    }
  }
  // A lookup table with each word repeated in proportion to 1/rank: sampling is one array read.
  const slots = 1 << 20;
  const table: string[] = new Array(slots);
  let harmonic = 0;
  for (let r = 1; r <= size; r++) harmonic += 1 / r;
  let at = 0;
  for (let r = 1; r <= size && at < slots; r++) {
    const count = Math.max(1, Math.round(slots / (r * harmonic)));
    for (let i = 0; i < count && at < slots; i++) table[at++] = words[r - 1];
  }
  while (at < slots) table[at++] = words[Math.floor(random() * size)];
  return { words, sample: () => table[Math.floor(random() * slots)] };
}

export interface Table {
  db: string;
  name: string;
  /** Column definitions per engine. */
  pg: string;
  mysql: string;
  /** Secondary indexes (rebuilt on restore: part of what a restore costs). */
  indexes: string[];
  rows: number;
}

/** The schema, identical in both engines; `scale` 1 is about 430 MB of dump text per engine. */
export function tables(scale: number): Table[] {
  const n = (x: number) => Math.max(1, Math.round(x * scale));
  return [
    {
      db: 'wiki',
      name: 'pages',
      pg: 'id bigint primary key, slug text not null, title text not null, body text not null, created_at timestamptz not null, updated_at timestamptz not null, meta jsonb not null',
      mysql: 'id bigint primary key, slug varchar(255) not null, title text not null, body mediumtext not null, created_at datetime(6) not null, updated_at datetime(6) not null, meta json not null',
      indexes: ['slug'],
      rows: n(44000),
    },
    {
      db: 'wiki',
      name: 'revisions',
      pg: 'id bigint primary key, page_id bigint not null, author text not null, summary text not null, edited_at timestamptz not null, diff text not null',
      mysql: 'id bigint primary key, page_id bigint not null, author varchar(255) not null, summary text not null, edited_at datetime(6) not null, diff mediumtext not null',
      indexes: ['page_id'],
      rows: n(224000),
    },
    {
      db: 'shop',
      name: 'customers',
      pg: 'id bigint primary key, name text not null, email text not null, address text not null, created_at timestamptz not null, prefs jsonb not null',
      mysql: 'id bigint primary key, name varchar(255) not null, email varchar(255) not null, address text not null, created_at datetime(6) not null, prefs json not null',
      indexes: ['email'],
      rows: n(80000),
    },
    {
      db: 'shop',
      name: 'orders',
      pg: 'id bigint primary key, customer_id bigint not null, placed_at timestamptz not null, status text not null, items jsonb not null, note text not null',
      mysql: 'id bigint primary key, customer_id bigint not null, placed_at datetime(6) not null, status varchar(32) not null, items json not null, note text not null',
      indexes: ['customer_id'],
      rows: n(264000),
    },
    {
      db: 'shop',
      name: 'events',
      pg: 'id bigint primary key, kind text not null, at timestamptz not null, payload jsonb not null',
      mysql: 'id bigint primary key, kind varchar(64) not null, at datetime(6) not null, payload json not null',
      indexes: [],
      rows: n(240000),
    },
    {
      db: 'app',
      name: 'audit_log',
      pg: 'id bigint primary key, at timestamptz not null, actor text not null, action text not null, detail jsonb not null',
      mysql: 'id bigint primary key, at datetime(6) not null, actor varchar(255) not null, action varchar(64) not null, detail json not null',
      indexes: ['actor'],
      rows: n(48000),
    },
  ];
}

export const DATABASES = ['app', 'shop', 'wiki'];

/** Writes one TSV file per table into `dir` (rows in COPY text format: no tabs, newlines or backslashes occur). */
export function generateTsv(dir: string, scale: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const random = rng(20261129);
  const vocab = vocabulary(20000, random);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const words = (lo: number, hi: number) => {
    const k = int(lo, hi);
    let s = vocab.sample();
    for (let i = 1; i < k; i++) s += (random() < 0.08 ? '. ' : ' ') + vocab.sample();
    return s;
  };
  const epoch0 = Date.UTC(2019, 0, 1);
  const span = Date.UTC(2026, 10, 1) - epoch0;
  // Microsecond timestamps, formatted as both engines print them back (UTC, no zone suffix).
  const ts = () => {
    const ms = epoch0 + Math.floor(random() * span);
    return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}.${String(int(0, 999999)).padStart(6, '0')}`;
  };
  const statuses = ['placed', 'paid', 'packed', 'shipped', 'delivered', 'returned', 'cancelled'];
  const kinds = ['login', 'logout', 'view', 'search', 'add_to_cart', 'checkout', 'review', 'refund'];
  const gen: Record<string, (id: number) => string[]> = {
    pages: (id) => {
      const title = words(2, 7);
      return [
        String(id),
        `${title.replace(/[ .]+/g, '-')}-${id}`,
        title,
        words(150, 420),
        ts(),
        ts(),
        JSON.stringify({ lang: random() < 0.8 ? 'en' : 'de', tags: [vocab.sample(), vocab.sample(), vocab.sample()], views: int(0, 90000), protected: random() < 0.05 }),
      ];
    },
    revisions: (id) => [String(id), String(int(1, 44000)), `${vocab.sample()}.${vocab.sample()}`, words(3, 14), ts(), `@@ -${int(1, 400)},${int(1, 30)} +${int(1, 400)},${int(1, 30)} @@ ${words(20, 90)}`],
    customers: (id) => {
      const first = vocab.sample();
      const last = vocab.sample();
      return [
        String(id),
        `${first} ${last}`,
        `${first}.${last}${id}@example.org`,
        `${int(1, 400)} ${words(1, 3)} street, ${int(10000, 99999)} ${vocab.sample()}`,
        ts(),
        JSON.stringify({ newsletter: random() < 0.3, currency: random() < 0.7 ? 'EUR' : 'GBP', notes: words(3, 25) }),
      ];
    },
    orders: (id) => {
      const items = [];
      for (let i = int(1, 5); i > 0; i--) items.push({ sku: `SKU-${int(100000, 999999)}`, name: words(1, 4), qty: int(1, 6), price: int(99, 99999) / 100 });
      return [String(id), String(int(1, 80000)), ts(), statuses[int(0, statuses.length - 1)], JSON.stringify(items), words(0, 30)];
    },
    events: (id) => [
      String(id),
      kinds[int(0, kinds.length - 1)],
      ts(),
      JSON.stringify({ session: random().toString(36).slice(2, 14), ip: `10.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}`, agent: words(2, 6), query: words(0, 8) }),
    ],
    audit_log: (id) => [String(id), ts(), `${vocab.sample()}.${vocab.sample()}`, kinds[int(0, kinds.length - 1)], JSON.stringify({ target: vocab.sample(), before: words(0, 12), after: words(0, 12) })],
  };
  for (const t of tables(scale)) {
    const fd = fs.openSync(path.join(dir, `${t.db}.${t.name}.tsv`), 'w');
    let buf = '';
    for (let id = 1; id <= t.rows; id++) {
      buf += gen[t.name](id).join('\t') + '\n';
      if (buf.length > 1 << 20) {
        fs.writeSync(fd, buf);
        buf = '';
      }
    }
    fs.writeSync(fd, buf);
    fs.closeSync(fd);
  }
}
