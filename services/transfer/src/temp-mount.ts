import { mkdir, mkdtemp, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { mountAll, unmountAll, type Mount } from '@flotilla/snapshots';

/**
 * Mounts a snapshot's mounts on a fresh directory under `base` for the duration of `fn`, then unmounts
 * and removes it (containerd's mount.WithTempMount). An empty mount list is an empty directory.
 */
export async function withTempMount<T>(base: string, mounts: readonly Mount[], fn: (root: string) => Promise<T>): Promise<T> {
  await mkdir(base, { recursive: true, mode: 0o700 });
  const root = await mkdtemp(join(base, 'mount-'));
  try {
    if (mounts.length === 0) return await fn(root);
    await mountAll(mounts, root);
    try {
      return await fn(root);
    } finally {
      await unmountAll(root);
    }
  } finally {
    await rmdir(root);
  }
}

/**
 * The same mounts, read-only (containerd's readonlyMounts): 'ro' for ordinary mounts; an overlay loses
 * its upper and work directories and keeps the upper as its top lower layer instead, so that it can be
 * mounted while the snapshot is mounted elsewhere (a work directory serves one mount at a time).
 */
export function readonlyMounts(mounts: readonly Mount[]): Mount[] {
  return mounts.map((m) => {
    if (m.type !== 'overlay') return { ...m, options: [...m.options.filter((o) => o !== 'rw' && o !== 'ro'), 'ro'] };
    const upper = m.options.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length);
    const options = m.options
      .filter((o) => !o.startsWith('upperdir=') && !o.startsWith('workdir='))
      .map((o) => (upper !== undefined && o.startsWith('lowerdir=') ? `lowerdir=${upper}:${o.slice('lowerdir='.length)}` : o));
    return { ...m, options };
  });
}
