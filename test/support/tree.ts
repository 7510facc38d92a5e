import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { lgetxattr, llistxattr } from '@flotilla/native';

/**
 * One entry of a filesystem tree, as the differential tests compare it: everything an image's layers
 * decide (type, permissions with the setuid/setgid/sticky bits, owner, size, link target, xattrs,
 * content) and nothing the unpacking host decides (inode numbers, times of the unpack itself).
 */
export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  /** Permission bits including setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes, for regular files and symlinks. */
  size: number;
  /** Symlink target. */
  link?: string;
  /** sha256 of a regular file's content. */
  sha256?: string;
  /** Major:minor of a device node. */
  rdev?: number;
  /** Extended attributes by name, values hex. */
  xattrs: Record<string, string>;
  /** For a file with several links: the first path (in sorted order) of its hardlink group. */
  hardlinkGroup?: string;
}

export type Tree = Map<string, TreeEntry>;

function typeOf(mode: number): TreeEntry['type'] {
  switch (mode & 0o170000) {
    case 0o100000: return 'file';
    case 0o040000: return 'dir';
    case 0o120000: return 'symlink';
    case 0o020000: return 'char';
    case 0o060000: return 'block';
    case 0o010000: return 'fifo';
    default: return 'socket';
  }
}

function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (c) => h.update(c)).on('end', () => resolve(h.digest('hex'))).on('error', reject);
  });
}

/**
 * Walk `root` (not following symlinks) and describe every path under it, the root itself as '/'.
 * Hardlink groups are named by their first path in sorted order, so two trees that link the same paths
 * together compare equal whatever their inode numbers.
 */
export async function readTree(root: string): Promise<Tree> {
  const tree: Tree = new Map();
  const byInode = new Map<string, string[]>();
  const visit = async (rel: string): Promise<void> => {
    const abs = rel === '/' ? root : join(root, rel);
    const st = await lstat(abs, { bigint: true });
    const mode = Number(st.mode);
    const type = typeOf(mode);
    const xattrs: Record<string, string> = {};
    for (const name of (await llistxattr(abs)).sort()) {
      xattrs[name] = (await lgetxattr(abs, name)).toString('hex');
    }
    const entry: TreeEntry = { type, mode: mode & 0o7777, uid: Number(st.uid), gid: Number(st.gid), size: 0, xattrs };
    if (type === 'file') {
      entry.size = Number(st.size);
      entry.sha256 = await hashFile(abs);
      if (st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        const group = byInode.get(key) ?? [];
        group.push(rel);
        byInode.set(key, group);
      }
    } else if (type === 'symlink') {
      entry.link = await readlink(abs);
      entry.size = Buffer.byteLength(entry.link);
    } else if (type === 'char' || type === 'block') {
      entry.rdev = Number(st.rdev);
    }
    tree.set(rel, entry);
    if (type === 'dir') {
      for (const name of (await readdir(abs)).sort()) await visit(rel === '/' ? `/${name}` : `${rel}/${name}`);
    }
  };
  await visit('/');
  for (const group of byInode.values()) {
    if (group.length < 2) continue;
    const first = [...group].sort()[0]!;
    for (const p of group) tree.get(p)!.hardlinkGroup = first;
  }
  return tree;
}

/** Human-readable differences between two trees (empty when they are identical). */
export function diffTrees(a: Tree, b: Tree, names: [string, string] = ['a', 'b']): string[] {
  const out: string[] = [];
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const p of paths) {
    const x = a.get(p);
    const y = b.get(p);
    if (!x) { out.push(`${p}: only in ${names[1]}`); continue; }
    if (!y) { out.push(`${p}: only in ${names[0]}`); continue; }
    const fields = new Set([...Object.keys(x), ...Object.keys(y)]) as Set<keyof TreeEntry>;
    for (const f of fields) {
      const vx = JSON.stringify(x[f]);
      const vy = JSON.stringify(y[f]);
      if (vx !== vy) out.push(`${p}: ${f} ${names[0]}=${vx} ${names[1]}=${vy}`);
    }
  }
  return out;
}
