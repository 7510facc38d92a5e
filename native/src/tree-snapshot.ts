import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { lgetxattr, llistxattr } from '../index.js';

/** One path of a tree, as tests that unpack, diff or compare filesystems describe it. */
export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  /** Permission bits with setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes, for regular files. */
  size?: number;
  /** Symlink target. */
  target?: string;
  /** sha256 of a regular file's content. */
  sha256?: string;
  /** Device number of a character or block device. */
  rdev?: number;
  /** Extended attributes by name, values hex; absent when there are none. */
  xattrs?: Record<string, string>;
  /** Every path of this entry's inode (its hardlinks, in walk order), when there are several. */
  links?: string[];
}

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
    createReadStream(path).on('data', (c) => h.update(c)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

async function describe(path: string, rel: string, inodes: Map<string, string[]>): Promise<TreeEntry> {
  const st = await lstat(path, { bigint: true });
  const type = typeOf(Number(st.mode));
  const e: TreeEntry = { type, mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid) };
  if (type === 'file') {
    e.size = Number(st.size);
    e.sha256 = await hashFile(path);
    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      inodes.set(key, [...(inodes.get(key) ?? []), rel]);
    }
  } else if (type === 'symlink') {
    e.target = await readlink(path);
  } else if (type === 'char' || type === 'block') {
    e.rdev = Number(st.rdev);
  }
  const names = await llistxattr(path);
  if (names.length > 0) {
    e.xattrs = {};
    for (const n of names.sort()) e.xattrs[n] = (await lgetxattr(path, n)).toString('hex');
  }
  return e;
}

/**
 * Everything about a tree that a layer decides, by path relative to `root` (not following symlinks):
 * type, mode, owner, size, symlink target, content hash, device number, xattrs (trusted.overlay.* included,
 * so overlay whiteouts show) and hardlink groups. Times are left out: trees built at different moments, or
 * by different daemons, compare equal. With `includeRoot`, the root directory itself is the entry ''.
 */
export async function treeSnapshot(root: string, opts: { includeRoot?: boolean } = {}): Promise<Record<string, TreeEntry>> {
  const out: Record<string, TreeEntry> = {};
  const inodes = new Map<string, string[]>();
  if (opts.includeRoot) out[''] = await describe(root, '', inodes);
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(join(root, dir))).sort()) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      const e = await describe(join(root, rel), rel, inodes);
      out[rel] = e;
      if (e.type === 'dir') await walk(rel);
    }
  };
  await walk('');
  for (const group of inodes.values()) if (group.length > 1) for (const p of group) out[p]!.links = group;
  return out;
}
