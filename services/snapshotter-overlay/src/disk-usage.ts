import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Usage } from '@flotilla/snapshots';

/** st_blocks counts 512-byte units whatever the filesystem's block size (stat(2)). */
const BLOCK_UNIT = 512n;
/** Entries of one directory stat'ed at once. */
const STAT_BATCH = 64;

/**
 * The disk a tree takes, as continuity's fs.DiskUsage measures it: every inode under `root` (itself
 * included) counted once by (device, inode), however many hard links reach it, and its allocated blocks
 * (not its apparent size, so sparse files count what they use) added once. Symlinks are not followed.
 */
export async function diskUsage(root: string): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0n;
  const visit = async (path: string): Promise<boolean> => {
    const st = await lstat(path, { bigint: true });
    const inode = `${st.dev}:${st.ino}`;
    if (!seen.has(inode)) {
      seen.add(inode);
      size += st.blocks * BLOCK_UNIT;
    }
    return st.isDirectory();
  };

  const dirs: string[] = [];
  if (await visit(root)) dirs.push(root);
  for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
    const parent = dir;
    const names = await readdir(parent);
    for (let i = 0; i < names.length; i += STAT_BATCH) {
      const paths = names.slice(i, i + STAT_BATCH).map((n) => join(parent, n));
      const isDir = await Promise.all(paths.map(visit));
      paths.forEach((p, j) => {
        if (isDir[j]) dirs.push(p);
      });
    }
  }
  return { size: Number(size), inodes: seen.size };
}
