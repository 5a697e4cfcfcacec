/**
 * The root filesystems of the job images, built from the same package lists as the Dockerfiles
 * (images/<image>/packages.txt) with images/build-rootfs.sh (mmdebstrap, Debian 13 "trixie").
 *
 * The jest global setup (test/global-setup.ts) builds each once per machine into
 * `$BACKUP_POLICY_ROOTFS_CACHE` (default /var/cache/backup-policy) under a name keyed by a hash of
 * everything that decides its content: the package lists, the configure-rootfs.sh beside each list
 * and the build script.
 * Changing any of them builds a new one; `.ci/run` points the cache at a fresh directory so CI always
 * builds from scratch. The Debian archive itself moves on: delete the cache to pick up updates.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export type ImageName = 'backup-tools' | 'backup-drill';

export const IMAGES_DIR = path.resolve(__dirname, '..', '..', 'images');
const BUILD_SCRIPT = path.join(IMAGES_DIR, 'build-rootfs.sh');

/** The package list files an image is built from, in order (the drill image adds servers to the tools). */
export function packageListFiles(image: ImageName): string[] {
  const tools = path.join(IMAGES_DIR, 'backup-tools', 'packages.txt');
  return image === 'backup-tools' ? [tools] : [tools, path.join(IMAGES_DIR, 'backup-drill', 'packages.txt')];
}

/** A package list's names: comments and blank lines dropped, as build-rootfs.sh and the Dockerfile read it. */
export function readPackageList(file: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean);
}

export function rootfsCacheDir(): string {
  return process.env.BACKUP_POLICY_ROOTFS_CACHE || '/var/cache/backup-policy';
}

function contentKey(image: ImageName): string {
  const hash = createHash('sha256');
  const lists = packageListFiles(image);
  const configures = lists.map((l) => path.join(path.dirname(l), 'configure-rootfs.sh')).filter((f) => fs.existsSync(f));
  for (const file of [BUILD_SCRIPT, ...lists, ...configures]) {
    hash.update(`${path.relative(IMAGES_DIR, file)}\0`).update(fs.readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

/** Where this checkout's root filesystem of `image` lives (whether or not it is built yet). */
export function rootfsPath(image: ImageName): string {
  return path.join(rootfsCacheDir(), `rootfs-${image}-${contentKey(image)}`);
}

/** The built root filesystem of `image`; throws when the global setup has not built it. */
export function requireRootfs(image: ImageName): string {
  const dir = rootfsPath(image);
  if (!fs.existsSync(path.join(dir, 'etc', 'passwd'))) {
    throw new Error(`no ${image} root filesystem at ${dir}: run the tests through jest, whose global setup (test/global-setup.ts) builds it`);
  }
  return dir;
}

export interface RootfsBuild {
  image: ImageName;
  path: string;
  /** False when the cached copy was used. */
  built: boolean;
  seconds: number;
}

/** Builds the root filesystem of `image` unless this content's build is already cached. */
export async function ensureRootfs(image: ImageName): Promise<RootfsBuild> {
  const started = Date.now();
  const dir = rootfsPath(image);
  if (fs.existsSync(dir)) return { image, path: dir, built: false, seconds: (Date.now() - started) / 1000 };
  await new Promise<void>((resolve, reject) => {
    execFile(BUILD_SCRIPT, [dir, ...packageListFiles(image)], { maxBuffer: 64 * 1024 * 1024 }, (error, _stdout, stderr) => {
      // Another run on this machine may have finished the same build first: its result is as good.
      if (error && !fs.existsSync(dir)) reject(new Error(`building the ${image} root filesystem failed:\n${stderr}`));
      else resolve();
    });
  });
  return { image, path: dir, built: true, seconds: (Date.now() - started) / 1000 };
}

const IN_ROOTFS_SCRIPT = path.join(__dirname, 'in-rootfs.sh');

/**
 * The `[command, args]` that run `argv` inside the image's root filesystem (test/support/in-rootfs.sh)
 * as `user` of the image (root when omitted). Files are shared through /tmp, at the same paths.
 */
export function inImage(image: ImageName, argv: string[], user = ''): [string, string[]] {
  return [IN_ROOTFS_SCRIPT, [requireRootfs(image), user, ...argv]];
}
