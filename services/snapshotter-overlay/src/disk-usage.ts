import { diskUsage as measure } from '@flotilla/native';
import type { Usage } from '@flotilla/snapshots';

/**
 * The disk a tree takes, as continuity's fs.DiskUsage measures it: every inode under `root` (itself
 * included) counted once by (device, inode), however many hard links reach it, and its allocated blocks
 * (not its apparent size, so sparse files count what they use) added once. Symlinks are not followed.
 *
 * One native call walks the tree on the thread pool: a commit measures the upper directory a layer was
 * just written into, and from JavaScript each entry's lstat cost tens of microseconds (a Stats object with
 * bigint fields), which was most of the time a commit of a few hundred entries took, and all of the main
 * thread's for a layer of tens of thousands.
 */
export async function diskUsage(root: string): Promise<Usage> {
  const { size, inodes } = await measure(root);
  return { size, inodes };
}
