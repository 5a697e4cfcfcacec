/**
 * Host-layer benchmark, in the host lab of the tests (test/host/host-lab.ts: LVM fake over real ext4
 * images and loop mounts, a real sshd on loopback standing in for the NAS):
 *
 * - offsite sync: the real offsite-sync-backup.sh syncing 100 changed paths (edits, new files,
 *   deletes, renames) out of a 100,000-file tree from the real nfs-change-tracker's log, beside the
 *   full `rsync -aH --delete` pass (the script's own full-sync command line) over the same tree after
 *   the same changes, into a second NAS copy; both copies are compared with the source at the end.
 * - daily-backup: the real daily-backup.sh over PVC-shaped volumes (many small files, a few large
 *   ones), the first run of a week (a full copy) and the next week's run (--link-dest, nothing
 *   changed but a few files), beside `rsync -a` of the same trees from a plain directory.
 *
 *   node dist/bench/pipeline/host.js [--runs 5] [--files 100000] [--only offsite|daily] [--section NAME] [--no-write]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { processTree } from '../../test/support/run-script';
import { run, runOk, startPushgateway, waitUntil } from '../../test/support/servers';
import { labEnv, labHost, makeLab, removeLab, setCluster, startSshd, writeConfig, type Lab, type Sshd } from '../../test/host/host-lab';
import { alternate, loadAverage, machine, median, type Variant, wallSummary } from './measure';
import { writeSection } from './results';

interface Options {
  runs: number;
  files: number;
  section: string;
  write: boolean;
  only?: 'offsite' | 'daily';
}

function parseArgs(argv: string[]): Options {
  const o: Options = { runs: 5, files: 100000, section: 'Host layer', write: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--runs') o.runs = Number(v);
    else if (a === '--files') o.files = Number(v);
    else if (a === '--section') o.section = v;
    else if (a === '--only') o.only = v as Options['only'];
    else if (a === '--no-write') {
      o.write = false;
      continue;
    } else throw new Error(`unknown option ${a}`);
    i++;
  }
  return o;
}

const log = (s: string) => process.stderr.write(`${s}\n`);

// The repository, from dist/bench/pipeline: the test helpers locate the scripts and fakes relative
// to their own source files, which the compiled copies under dist/ are not beside.
const ROOT = path.resolve(__dirname, '..', '..', '..');
const SCRIPTS = path.join(ROOT, 'host-scripts');
const FAKES = [path.join(ROOT, 'test', 'fakes', 'lvm'), path.join(ROOT, 'test', 'host', 'fakes')];
const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The environment systemd gives a host job in the lab (see test/host/host-lab.ts). */
function hostEnv(lab: Lab): Record<string, string> {
  return { ...labEnv(lab), PATH: [...FAKES, BASE_PATH].join(':') };
}

/** `bash host-scripts/SCRIPT` in the lab, to completion; stderr returned. */
async function hostScript(lab: Lab, script: string, tmpdir: string, args: string[] = []): Promise<{ code: number | null; stderr: string }> {
  return run('bash', [path.join(SCRIPTS, script), ...args], { env: { ...hostEnv(lab), TMPDIR: tmpdir } });
}

/** Deterministic bytes: text-like small files, and a few large incompressible ones. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A homelab-shaped NFS tree of `files` files: photo libraries and app data in 100-file directories
 * (small files of 1-8 KiB), plus a few large media files. Returns the relative paths of the small files.
 */
function buildTree(root: string, files: number, random: () => number): string[] {
  const apps = ['immich/upload', 'nextcloud/data', 'paperless/media', 'gitea/repos', 'jellyfin/metadata'];
  const small: string[] = [];
  const large = 4;
  for (let i = 0; i < files - large; i++) {
    const rel = `${apps[i % apps.length]}/d${Math.floor(i / 100) % 1000}/f${i}.dat`;
    const p = path.join(root, rel);
    if (i % 100 < apps.length) fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, Buffer.alloc(1024 + Math.floor(random() * 7168), i % 251));
    small.push(rel);
  }
  fs.mkdirSync(path.join(root, 'media/movies'), { recursive: true });
  for (let i = 0; i < large; i++) {
    const buf = Buffer.allocUnsafe(64 * 1024 * 1024);
    for (let j = 0; j < buf.length; j += 4) buf.writeUInt32LE(Math.floor(random() * 2 ** 32), j);
    fs.writeFileSync(path.join(root, `media/movies/film-${i}.mkv`), buf);
  }
  return small;
}

/** 100 changes as an application makes them: 70 edits, 10 new files, 10 deletes, 10 renames. */
function change(root: string, small: string[], round: number, random: () => number): void {
  const pick = () => {
    const i = Math.floor(random() * small.length);
    const rel = small[i];
    small.splice(i, 1);
    return rel;
  };
  for (let k = 0; k < 70; k++) {
    const rel = pick();
    fs.appendFileSync(path.join(root, rel), `edit ${round}.${k}\n`);
    small.push(rel);
  }
  for (let k = 0; k < 10; k++) {
    const rel = `immich/upload/new-${round}/n${k}.jpg`;
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), Buffer.alloc(4096, k));
    small.push(rel);
  }
  for (let k = 0; k < 10; k++) fs.rmSync(path.join(root, pick()));
  for (let k = 0; k < 10; k++) {
    const rel = pick();
    const to = `${rel}.renamed-${round}`;
    fs.renameSync(path.join(root, rel), path.join(root, to));
    small.push(to);
  }
}

function rsh(sshd: Sshd): string {
  return `ssh -i ${sshd.identityFile} -p ${sshd.port} -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${sshd.knownHostsFile}`;
}

/** "step N took 1.234 s" lines of one offsite-sync-backup.sh run, in ms. */
function stepTimes(stderr: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of stderr.matchAll(/step (\d+) took (\d+\.\d+) s/g)) out[m[1]] = Number(m[2]) * 1000;
  return out;
}

/** "0.42 s (0.40–0.47)" of samples in ms. */
function msSummary(xs: number[]): string {
  return `${(median(xs) / 1000).toFixed(2)} s (${(Math.min(...xs) / 1000).toFixed(2)}–${(Math.max(...xs) / 1000).toFixed(2)})`;
}

/**
 * Differences between two local trees (itemized dry run with --delete, contents by checksum);
 * empty when identical. Directory times are left out: the incremental sync sends the paths that
 * changed, and a directory whose only change is a new entry keeps its old time on the NAS.
 */
function differences(src: string, dst: string): string {
  return execFileSync('rsync', ['-anHi', '--omit-dir-times', '--delete', '--checksum', `${src}/`, `${dst}/`], { maxBuffer: 1 << 26 }).toString().trim();
}

interface Report {
  rows: string[];
  notes: string[];
}

async function benchOffsite(o: Options, sshd: Sshd, pushgateway: string): Promise<Report> {
  const lab = makeLab('bench-offsite');
  let tracker: ChildProcess | undefined;
  let closeControl = () => undefined as unknown;
  try {
    // A real Pushgateway: an unreachable one costs each run curl's retries.
    const host = labHost(lab.root, { pushgateway: { url: pushgateway } });
    host.offsite.nas = { host: '127.0.0.1', port: sshd.port, identityFile: sshd.identityFile, knownHostsFile: sshd.knownHostsFile };
    writeConfig(lab, host);
    const nfs = path.join(lab.root, 'nfs');
    const ssd = path.join(lab.root, 'nfs-ssd');
    const random = rng(4242);
    log(`building ${o.files} files`);
    const small = buildTree(nfs, o.files, random);
    fs.writeFileSync(path.join(ssd, 'servarr.xml'), '<config/>');

    const tmpdir = fs.mkdtempSync(path.join(lab.root, 'tmp-'));
    tracker = spawn('bash', [path.join(SCRIPTS, 'nfs-change-tracker.sh')], { env: { ...hostEnv(lab), TMPDIR: tmpdir }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    tracker.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await waitUntil(() => err.includes('Watches established.'), 120000, 'the tracker watching').catch((e: Error) => {
      throw new Error(`${e.message}\n${err}`);
    });
    const changeLog = path.join(lab.backup, '.nfs-changes.log');
    const logged = () => (fs.existsSync(changeLog) ? fs.readFileSync(changeLog, 'utf8') : '');
    // The first sync after the tracker starts is a full one (events before its watches are unknown).
    const first = await hostScript(lab, 'offsite-sync-backup.sh', tmpdir);
    if (first.code !== 0 || !first.stderr.includes('full sync')) throw new Error(`first sync: ${first.stderr}`);
    const refTarget = path.join(lab.root, 'nas/nfs-ref');
    const fullArgs = `-aH --delete --force --numeric-ids -e ${JSON.stringify(rsh(sshd))}`;
    await runOk('bash', ['-c', `rsync ${fullArgs} -- ${nfs}/ root@127.0.0.1:${refTarget}/`]);
    // The same full pass over a connection the bench keeps open: the scan alone, without the
    // connection set-up, to compare with step 2 of the script, which also runs over an open one.
    const control = path.join(fs.mkdtempSync('/tmp/bp-bench-ssh-'), 'm');
    await runOk('bash', ['-c', `${rsh(sshd)} -o ControlMaster=yes -o ControlPath=${control} -o ControlPersist=600 -fN root@127.0.0.1 </dev/null >/dev/null 2>&1`]);
    closeControl = () => {
      try {
        execFileSync('ssh', ['-o', `ControlPath=${control}`, '-O', 'exit', 'root@127.0.0.1'], { stdio: 'ignore' });
      } finally {
        fs.rmSync(path.dirname(control), { recursive: true, force: true });
      }
    };
    const muxRsh = `${rsh(sshd)} -o ControlMaster=no -o ControlPath=${control}`;
    const muxTarget = path.join(lab.root, 'nas/nfs-ref-open');
    const muxArgs = `-aH --delete --force --numeric-ids -e ${JSON.stringify(muxRsh)}`;
    await runOk('bash', ['-c', `rsync ${muxArgs} -- ${nfs}/ root@127.0.0.1:${muxTarget}/`]);
    const connection = await alternate(
      [
        { name: 'ssh true, new connection', command: () => ({ script: `${rsh(sshd)} root@127.0.0.1 true`, env: {} }) },
        { name: 'ssh true over the open connection', command: () => ({ script: `${muxRsh} root@127.0.0.1 true`, env: {} }) },
      ],
      o.runs,
      lab.root,
      log,
    );

    let round = 0;
    let incrementalStderr = '';
    const steps: Record<string, number>[] = [];
    const applyAndLog = async () => {
      round++;
      change(nfs, small, round, random);
      const marker = path.join(nfs, `zz-marker-${round}`);
      fs.writeFileSync(marker, '');
      await waitUntil(() => logged().includes(marker), 60000, 'the changes in the log');
    };
    const variants: Variant[] = [
      {
        name: 'offsite-sync-backup.sh (incremental from the change log)',
        command: () => ({
          script: `bash ${path.join(SCRIPTS, 'offsite-sync-backup.sh')} 2>${lab.root}/sync.err`,
          env: hostEnv(lab),
        }),
        after: async () => {
          incrementalStderr = fs.readFileSync(`${lab.root}/sync.err`, 'utf8');
          if (!incrementalStderr.includes('incremental sync of')) throw new Error(`not incremental:\n${incrementalStderr}`);
          steps.push(stepTimes(incrementalStderr));
          return 0;
        },
      },
      {
        name: 'rsync -aH --delete over the whole tree',
        command: () => ({ script: `rsync ${fullArgs} -- ${nfs}/ root@127.0.0.1:${refTarget}/`, env: {} }),
      },
      {
        name: 'rsync -aH --delete over the whole tree, connection already open',
        command: () => ({ script: `rsync ${muxArgs} -- ${nfs}/ root@127.0.0.1:${muxTarget}/`, env: {} }),
      },
    ];
    // Every variant syncs the same 100 changes: each round changes the tree once, before whichever
    // variant runs first (the order rotates), and the others find the tree as it was.
    let started = 0;
    const ordered: Variant[] = variants.map((v) => ({
      ...v,
      before: async () => {
        if (started++ % variants.length === 0) await applyAndLog();
      },
    }));
    log('offsite sync');
    const results = await alternate(ordered, o.runs, lab.root, log);
    const diffNas = differences(nfs, path.join(lab.root, 'nas/nfs'));
    const diffRef = differences(nfs, refTarget);
    const diffMux = differences(nfs, muxTarget);
    if (diffNas !== '' || diffRef !== '' || diffMux !== '') throw new Error(`copies differ from the source:\n${diffNas}\n---\n${diffRef}\n---\n${diffMux}`);
    const [inc, full, fullOpen] = results;
    const wall = (r: typeof inc) => median(r.samples.map((s) => s.wallMs));
    const x = wall(full) / wall(inc);
    const step2 = steps.map((t) => t['2']);
    const step1 = steps.map((t) => t['1']);
    const x2 = wall(fullOpen) / median(step2);
    const [fresh, open] = connection;
    return {
      rows: [
        `| offsite sync, 100 changed paths of ${o.files.toLocaleString('en')} files: the whole script vs a full pass on its own connection | ${wallSummary(inc)} | ${wallSummary(full)} | ${x.toFixed(1)}× faster | ≥ 50× faster | ${x >= 50 ? 'yes' : 'no'} |`,
        `| offsite sync, the same: step 2 alone (change log + transfers over the run's open connection) vs a full pass over an open connection | ${msSummary(step2)} | ${wallSummary(fullOpen)} | ${x2.toFixed(1)}× faster | ≥ 50× faster | ${x2 >= 50 ? 'yes' : 'no'} |`,
      ],
      notes: [
        `Offsite, where the script's time goes (medians): step 1 (the lab's near-empty backup disk) ${msSummary(step1)}, step 2 ${msSummary(step2)}; the rest (bash start, config, lock, disk-usage metric, the shared connection's set-up, the Pushgateway push) ${((wall(inc) - median(step1) - median(step2)) / 1000).toFixed(2)} s. One SSH connection (\`ssh true\`): new ${wallSummary(fresh)}, a session over an open one ${wallSummary(open)}; the script opens one per run (ControlMaster) and runs its two or three rsync sessions over it. The NAS stand-in's sshd sets SHLVL=1 for its sessions so that the remote login shell skips this machine's root ~/.bashrc (pyenv initialisation, about 0.25 s per session), which a NAS's rsync account does not run.`,
        `Offsite: each round makes 70 edits, 10 new files (in a new directory), 10 deletes and 10 renames, then waits until nfs-change-tracker has logged them; the incremental run is the whole offsite-sync-backup.sh (step 1 mirrors the lab's empty backup disk, step 2 the logged paths), the reference is its full-sync command line \`rsync ${fullArgs.replace(/-e ".*"/, '-e ssh...')}\` into a second NAS folder, once with its own connection and once over a connection the bench keeps open (a third folder). After the last round all three NAS copies were compared with the source (\`rsync -anHi --delete --checksum\`): identical, deletes and renames included. Tree: ${o.files - 4} files of 1-8 KiB in 100-file directories and 4 files of 64 MiB.`,
      ],
    };
  } finally {
    try {
      closeControl();
    } catch {
      // The connection is gone already.
    }
    if (tracker && tracker.exitCode === null && tracker.signalCode === null) {
      const exited = new Promise((r) => tracker!.once('exit', r));
      for (const pid of processTree(tracker.pid!).reverse()) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // Gone already.
        }
      }
      await exited;
    }
    removeLab(lab);
  }
}

/** The LVM fake's own commands, with the lab's state (test/host/host-lab.ts `lvm`, from the repository). */
function lvmFake(lab: Lab, args: string[]): Promise<string> {
  return runOk(path.join(FAKES[0], 'lvm'), args, { env: { ...process.env, LVM_FAKE_DIR: lab.lvm } });
}

/** A PVC-shaped volume: `small` files of 1-8 KiB in 100-file directories and `large` 48 MiB files. */
function volumeTree(dir: string, small: number, large: number, random: () => number): void {
  for (let i = 0; i < small; i++) {
    const p = path.join(dir, `data/d${Math.floor(i / 100)}/f${i}.json`);
    if (i % 100 === 0) fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, Buffer.alloc(1024 + Math.floor(random() * 7168), i % 251));
  }
  if (large) fs.mkdirSync(path.join(dir, 'media'), { recursive: true });
  for (let i = 0; i < large; i++) {
    const buf = Buffer.allocUnsafe(48 * 1024 * 1024);
    for (let j = 0; j < buf.length; j += 4) buf.writeUInt32LE(Math.floor(random() * 2 ** 32), j);
    fs.writeFileSync(path.join(dir, `media/v${i}.mkv`), buf);
  }
}

async function benchDaily(o: Options, pushgateway: string): Promise<Report> {
  const lab = makeLab('bench-daily');
  try {
    writeConfig(lab, labHost(lab.root, { pushgateway: { url: pushgateway } }));
    await lvmFake(lab, ['fake-setup', 'vg', 'pve', 'data']);
    const random = rng(777);
    // The homelab's shapes: an app with many small files, a photo library with both, a media
    // volume of a few large files, a config volume of a handful.
    const volumes: [lv: string, claim: string, small: number, large: number, size: string][] = [
      ['vm-9001-pvc-app', 'app-data', 20000, 0, '400M'],
      ['vm-9002-pvc-photos', 'photos', 8000, 2, '300M'],
      ['vm-9003-pvc-media', 'media', 0, 4, '300M'],
      ['vm-9004-pvc-config', 'config', 50, 0, '16M'],
    ];
    const plain = path.join(lab.root, 'plain');
    // --files scales the small files (100,000 gives the shapes above); a small trial drops the large ones.
    const scale = o.files / 100000;
    for (const v of volumes) {
      v[2] = Math.round(v[2] * scale);
      if (scale < 0.1) v[3] = 0;
    }
    for (const [lv, claim, small, large, size] of volumes) {
      const src = path.join(plain, 'apps', claim);
      fs.mkdirSync(src, { recursive: true });
      volumeTree(src, small, large, random);
      await lvmFake(lab, ['fake-setup', 'lv', 'pve', 'data', lv, size, src]);
    }
    setCluster(lab, volumes.map(([lv, claim]) => [lv, 'apps', claim] as [string, string, string]));
    const tmpdir = fs.mkdtempSync(path.join(lab.root, 'tmp-'));
    const snap = await hostScript(lab, 'lvm-pvc-snapshot.sh', tmpdir, ['snapshot']);
    if (snap.code !== 0) throw new Error(`snapshot: ${snap.stderr}`);
    const pvcData = path.join(lab.backup, 'pvc-data');
    const week = execFileSync('date', ['+%G-%V'], { env: { ...process.env, TZ: 'Europe/London' } }).toString().trim();
    const daily = async () => {
      const r = await hostScript(lab, 'daily-backup.sh', tmpdir);
      if (r.code !== 0) throw new Error(`daily-backup: ${r.stderr}`);
    };
    const copyDir = path.join(lab.root, 'rsync-copy');
    const command = { script: `bash ${path.join(SCRIPTS, 'daily-backup.sh')} 2>${lab.root}/daily.err`, env: hostEnv(lab) };
    const variants: Variant[] = [
      {
        name: 'daily-backup.sh, first run (no earlier week: a full copy)',
        before: async () => fs.rmSync(pvcData, { recursive: true, force: true }),
        command: () => command,
      },
      {
        name: 'daily-backup.sh a week later (--link-dest, nothing changed)',
        before: async () => {
          if (!fs.existsSync(path.join(pvcData, week))) await daily();
          fs.rmSync(path.join(pvcData, '2020-01'), { recursive: true, force: true });
          fs.renameSync(path.join(pvcData, week), path.join(pvcData, '2020-01'));
        },
        command: () => command,
      },
      {
        name: 'rsync -a of the same files from a plain directory into an empty one',
        before: async () => fs.rmSync(copyDir, { recursive: true, force: true }),
        command: () => ({ script: `rsync -a ${plain}/ ${copyDir}/`, env: {} }),
      },
    ];
    log('daily-backup');
    const results = await alternate(variants, o.runs, tmpdir, log);
    // Names and contents only: the copy also holds each ext4 volume's lost+found, and the plain
    // directories' modes are not the volumes' root modes.
    const diff = execFileSync('rsync', ['-rlnci', '--delete', '--exclude=/apps/*/lost+found', `${plain}/`, `${path.join(pvcData, week)}/`], { maxBuffer: 1 << 26 })
      .toString()
      .trim();
    if (diff !== '') throw new Error(`the week's copy differs from the volumes:\n${diff}`);
    const [first, later, ref] = results;
    const total = volumes.reduce((n, v) => n + v[2] + v[3], 0);
    const bytes = execFileSync('du', ['-sb', plain]).toString().split('\t')[0];
    const ratio = (a: typeof first) => median(a.samples.map((x) => x.wallMs)) / median(ref.samples.map((x) => x.wallMs));
    return {
      rows: [
        `| daily-backup, first run of a week, ${total.toLocaleString('en')} files (${(Number(bytes) / 2 ** 20).toFixed(0)} MiB) in ${volumes.length} PVCs | ${wallSummary(first)} | ${wallSummary(ref)} | ${ratio(first).toFixed(2)}× | (none set) | |`,
        `| daily-backup a week later, nothing changed (--link-dest) | ${wallSummary(later)} | ${wallSummary(ref)} | ${ratio(later).toFixed(2)}× | (none set) | |`,
      ],
      notes: [
        `Daily backup: the real lvm-pvc-snapshot.sh and daily-backup.sh in the host lab (LVM fake over real ext4 images, snapshots mounted read-only through loop devices; every step of the job runs, the SQLite scan of each snapshot included). Volumes: ${volumes.map(([, c, sm, lg]) => `${c} (${sm} small, ${lg} large)`).join(', ')}; small files 1-8 KiB, large 48 MiB. The reference is a bare \`rsync -a\` of the same trees from a plain directory. "A week later" renames this week's folder into the past first, as the tests do, so the run hard-links every unchanged file to it. After the last run the week's copy was compared with the volumes' files by checksum.`,
      ],
    };
  } finally {
    removeLab(lab);
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const started = new Date();
  const startLoad = loadAverage();
  // SHLVL=1: the remote login shell (root's bash here) then skips ~/.bashrc, as a NAS's rsync
  // account has none; this machine's runs pyenv's initialisation, 0.25 s per session.
  const sshd = await startSshd(fs.mkdtempSync('/tmp/bp-bench-nas-'), ['SetEnv SHLVL=1']);
  const pgw = await startPushgateway();
  const reports: Report[] = [];
  try {
    if (o.only !== 'daily') reports.push(await benchOffsite(o, sshd, pgw.url));
    if (o.only !== 'offsite') reports.push(await benchDaily(o, pgw.url));
  } finally {
    await pgw.stop();
    await sshd.stop();
  }
  const when = started.toISOString().slice(0, 16).replace('T', ' ');
  const text = [
    `<!-- pipeline:${o.section} begin -->`,
    `## ${o.section}`,
    '',
    `${when} UTC; ${machine()}. 1-minute load average ${startLoad} at the start, ${loadAverage()} at the end. Median of ${o.runs} runs, range in brackets, variants alternated.`,
    '',
    `Reproduce: \`npm run -s build && node dist/bench/pipeline/host.js${o.runs !== 5 ? ` --runs ${o.runs}` : ''}${o.files !== 100000 ? ` --files ${o.files}` : ''}${o.only ? ` --only ${o.only}` : ''}\``,
    '',
    '| comparison | ours | reference | ratio | target | met |',
    '|---|--:|--:|--:|---|---|',
    ...reports.flatMap((r) => r.rows),
    '',
    ...reports.flatMap((r) => r.notes),
    '',
    `<!-- pipeline:${o.section} end -->`,
  ].join('\n');
  process.stdout.write(`${text}\n`);
  if (o.write) writeSection(o.section, text);
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack ?? e.message}\n`);
  process.exit(1);
});
