import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MNT, MS, mount, mountOverlay, umount2, type NativeError } from '@flotilla/native';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { parseMountOptions, parseOverlayData } from './mount-options.js';
import type { Mount } from './snapshotter.js';

/** mount(2) copies one page of data; anything longer would be cut, so it is refused (as containerd does). */
const PAGE_SIZE = 4096;
/** Flags a bind remount can change on one mount, whatever made it. */
const PER_MOUNT_FLAGS =
  MS.MS_RDONLY | MS.MS_NOSUID | MS.MS_NODEV | MS.MS_NOEXEC |
  MS.MS_NOATIME | MS.MS_NODIRATIME | MS.MS_RELATIME | MS.MS_STRICTATIME;
/** containerd's unmount retries a busy target this often, this far apart. */
const BUSY_RETRIES = 50;
const BUSY_DELAY_MS = 50;

/**
 * Where a mount goes: its `target` is a path under the caller's directory, kept inside it lexically
 * ('..' stops at the directory). containerd's fs.RootPath also resolves symlinks within the directory;
 * snapshotters leave `target` empty, and nothing here follows a symlink out of the tree it mounted.
 */
function mountPoint(target: string, sub: string): string {
  return sub === '' ? target : join(target, resolve('/', sub));
}

async function mountOne(m: Mount, target: string): Promise<void> {
  const { flags, data } = parseMountOptions(m.options);
  if (m.type === 'overlay') {
    // Through the new mount API, one fsconfig per lower layer: no page limit on how many there are
    // (containerd shortens the paths and chdirs instead, which still caps the count).
    const o = parseOverlayData(data);
    await mountOverlay(target, {
      lowerdirs: o.lowerdirs,
      ...(o.upperdir !== undefined ? { upperdir: o.upperdir } : {}),
      ...(o.workdir !== undefined ? { workdir: o.workdir } : {}),
      options: o.options,
      readonly: (flags & MS.MS_RDONLY) !== 0,
    });
    // Other per-mount flags (nosuid, nodev, ...) the new API left out: set them on the mount made.
    if ((flags & PER_MOUNT_FLAGS & ~MS.MS_RDONLY) !== 0) {
      await mount(null, target, null, MS.MS_REMOUNT | MS.MS_BIND | (flags & PER_MOUNT_FLAGS));
    }
    return;
  }
  const dataString = data.join(',');
  if (dataString.length > PAGE_SIZE) throw new InvalidArgumentError('mount options is too long');
  // A remount that changes no data only needs the flags below (moby/moby#34077).
  if ((flags & MS.MS_REMOUNT) === 0 || dataString !== '') {
    await mount(m.source, target, m.type, flags, dataString === '' ? null : dataString);
  }
  // The kernel ignores MS_RDONLY when it makes a bind mount; a remount of the bind applies it.
  const readonlyBind = MS.MS_BIND | MS.MS_RDONLY;
  if ((flags & readonlyBind) === readonlyBind) await mount(null, target, null, flags | MS.MS_REMOUNT);
}

/**
 * Perform a snapshot's mounts on `target`, in order (containerd's mount.All): a parent mount comes before
 * mounts into it. If one fails, those already made are undone before the error is thrown.
 */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  const made: string[] = [];
  try {
    for (const m of mounts) {
      const at = mountPoint(target, m.target);
      await mountOne(m, at);
      made.push(at);
    }
  } catch (err) {
    for (const at of made.reverse()) await umount2(at, MNT.MNT_DETACH).catch(() => undefined);
    throw err;
  }
}

async function unmountOnce(target: string, flags: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await umount2(target, flags);
      return;
    } catch (err) {
      // Something may still be closing a file in it (a process that just exited): give it a moment.
      if ((err as NativeError).code !== 'EBUSY' || attempt >= BUSY_RETRIES) throw err;
      await sleep(BUSY_DELAY_MS);
    }
  }
}

/**
 * Unmount everything stacked on `target` (containerd's mount.UnmountAll): until the kernel says it is no
 * mount point (EINVAL). A target that does not exist has nothing mounted.
 */
export async function unmountAll(target: string, flags = 0): Promise<void> {
  for (;;) {
    try {
      await unmountOnce(target, flags);
    } catch (err) {
      const code = (err as NativeError).code;
      if (code === 'EINVAL' || code === 'ENOENT') return;
      throw err;
    }
  }
}
