import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Usage } from '@flotilla/snapshots';

/** st_blocks counts 512-byte units whatever the filesystem's block size (stat(2)). */
const BLOCK_UNIT = 512n;
/** Entries looked at between two returns to the event loop. */
const SLICE = 1024;

/**
 * The disk a tree takes, as continuity's fs.DiskUsage measures it: every inode under `root` (itself
 * included) counted once by (device, inode), however many hard links reach it, and its allocated blocks
 * (not its apparent size, so sparse files count what they use) added once. Symlinks are not followed.
 *
 * The lookups are synchronous: a commit measures the upper directory a layer was just written into, whose
 * inodes are all cached, so each lstat takes a microsecond or two where a thread-pool round trip takes
 * tens (and milliseconds on a busy machine, which made a commit of a few hundred entries take 100 ms).
 * The walk returns to the event loop every SLICE entries so that a huge tree does not hold up other calls.
 */
export async function diskUsage(root: string): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0n;
  let visited = 0;
  const visit = (path: string): boolean => {
    const st = lstatSync(path, { bigint: true });
    const inode = `${st.dev}:${st.ino}`;
    if (!seen.has(inode)) {
      seen.add(inode);
      size += st.blocks * BLOCK_UNIT;
    }
    visited++;
    return st.isDirectory();
  };

  const dirs: string[] = [];
  if (visit(root)) dirs.push(root);
  for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (visit(path)) dirs.push(path);
      if (visited % SLICE === 0) await yieldToLoop();
    }
  }
  return { size: Number(size), inodes: seen.size };
}
