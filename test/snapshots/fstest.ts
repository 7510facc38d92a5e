/**
 * The parts of continuity's fs/fstest that containerd's snapshotter suite uses: appliers that change a
 * tree, and a comparison of two trees by what a layer must preserve (path, type and mode bits, owner,
 * size and content of files, hard-link groups, symlink targets, device numbers). Times are not compared,
 * as continuity does not.
 */
import { createHash } from 'node:crypto';
import { chmod, chown, link, lstat, mkdir, mkdtemp, open, readFile, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A change to the tree rooted at its argument. */
export type Applier = (root: string) => Promise<void>;

/** Write a file (creating or truncating it) and give it exactly `perm`, whatever the umask. */
export function createFile(name: string, content: string | Uint8Array, perm: number): Applier {
  return async (root) => {
    const path = join(root, name);
    const fh = await open(path, 'w', perm);
    try {
      await fh.writeFile(content);
    } finally {
      await fh.close();
    }
    await chmod(path, perm);
  };
}

/** mkdir -p, then exactly `perm` on the last one. */
export function createDir(name: string, perm: number): Applier {
  return async (root) => {
    const path = join(root, name);
    await mkdir(path, { recursive: true, mode: perm });
    await chmod(path, perm);
  };
}

export function removeAll(name: string): Applier {
  return (root) => rm(join(root, name), { recursive: true, force: true });
}

export function renamePath(from: string, to: string): Applier {
  return (root) => rename(join(root, from), join(root, to));
}

/** os.Chown: follows a symlink. */
export function chownPath(name: string, uid: number, gid: number): Applier {
  return (root) => chown(join(root, name), uid, gid);
}

/** A hard link `to` of `from`. */
export function hardLink(from: string, to: string): Applier {
  return (root) => link(join(root, from), join(root, to));
}

export function symbolicLink(target: string, name: string): Applier {
  return (root) => symlink(target, join(root, name));
}

/** The appliers one after the other. */
export function apply(...appliers: Applier[]): Applier {
  return async (root) => {
    for (const a of appliers) await a(root);
  };
}

/** One entry of a tree, as continuity's fstest resource. */
interface Resource {
  /** The first of `paths` in sort order. */
  path: string;
  /** Every name of the inode (hard links), sorted; one for anything else. */
  paths: string[];
  /** Type and permission bits, setuid/setgid/sticky included. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  sha256: string;
  target: string;
  rdev: number;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

/** Every entry under root (root itself excluded), hard links merged into one resource, sorted by path. */
async function buildResources(root: string): Promise<Resource[]> {
  const out: Resource[] = [];
  const byInode = new Map<string, Resource>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const full = join(dir, name);
      const path = `${rel}/${name}`;
      const st = await lstat(full);
      const type = st.mode & S_IFMT;
      const r: Resource = { path, paths: [path], mode: st.mode, uid: st.uid, gid: st.gid, size: 0, sha256: '', target: '', rdev: 0 };
      if (type === S_IFREG || type === S_IFIFO) {
        if (type === S_IFREG) {
          r.size = st.size;
          r.sha256 = createHash('sha256').update(await readFile(full)).digest('hex');
        }
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          const first = byInode.get(key);
          if (first) {
            first.paths.push(path);
            continue;
          }
          byInode.set(key, r);
        }
      } else if (type === S_IFLNK) {
        r.target = await readlink(full);
      } else if (type === S_IFCHR || type === S_IFBLK) {
        r.rdev = st.rdev;
      }
      out.push(r);
      if (st.isDirectory()) await walk(full, path);
    }
  };
  await walk(root, '');
  for (const r of out) {
    r.paths.sort();
    r.path = r.paths[0]!;
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function sameResource(a: Resource, b: Resource): boolean {
  if (a.path !== b.path || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid) return false;
  switch (a.mode & S_IFMT) {
    case S_IFREG:
      return a.size === b.size && a.sha256 === b.sha256 && a.paths.join('\0') === b.paths.join('\0');
    case S_IFLNK:
      return a.target === b.target;
    case S_IFCHR:
    case S_IFBLK:
      return a.rdev === b.rdev;
    default:
      return true;
  }
}

const describeResource = (r: Resource): string => `${r.path}(mode: ${r.mode.toString(8)}, uid: ${r.uid}, gid: ${r.gid})`;

/** Throws, listing additions (+), deletions (-) and changes (~), unless the trees match. */
export async function checkDirectoryEqual(expected: string, actual: string): Promise<void> {
  const [r1, r2] = await Promise.all([buildResources(expected), buildResources(actual)]);
  const diff: string[] = [];
  let i = 0;
  let j = 0;
  while (i < r1.length && j < r2.length) {
    const a = r1[i]!;
    const b = r2[j]!;
    if (a.path < b.path) {
      diff.push(`- ${a.path}`);
      i++;
    } else if (a.path > b.path) {
      diff.push(`+ ${b.path}`);
      j++;
    } else {
      if (!sameResource(a, b)) diff.push(`~ ${describeResource(a)} -> ${describeResource(b)}`);
      i++;
      j++;
    }
  }
  for (; i < r1.length; i++) diff.push(`- ${r1[i]!.path}`);
  for (; j < r2.length; j++) diff.push(`+ ${r2[j]!.path}`);
  if (diff.length > 0) throw new Error(`directory diff between ${expected} and ${actual}\n${diff.join('\n')}`);
}

/** Compare `root` with what the applier makes of an empty directory. */
export async function checkDirectoryEqualWithApplier(root: string, a: Applier): Promise<void> {
  const applied = await mkdtemp(join(tmpdir(), 'fstest-'));
  try {
    await a(applied);
    await checkDirectoryEqual(applied, root);
  } finally {
    await rm(applied, { recursive: true, force: true });
  }
}
