import { chmodSync, lchownSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, InvalidArgumentError, NotImplementedError } from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';
import { snapshotFilter, type Info, type Mount, type SnapshotOptions, type Snapshotter, type Usage } from '@flotilla/snapshots';
import { diskUsage } from './disk-usage.js';
import { openMetadataStore } from './metadata-store.js';
import { overlayMountOptions } from './overlay-options.js';
import { overlayMounts, type OverlayLayout } from './overlay-mounts.js';

/** The label containerd's overlay snapshotter adds, when configured to, with a snapshot's upper directory. */
export const UPPERDIR_LABEL = 'containerd.io/snapshot/overlay.upperdir';

export interface OverlaySnapshotterOptions {
  /** Holds `metadata.db` and `snapshots/<id>/{fs,work}`; created (0700) if missing. */
  readonly root: string;
  readonly log: Logger;
  /**
   * Delete a removed snapshot's directories in `remove` itself (containerd's `sync_remove`). By default,
   * as in containerd, `remove` only drops the metadata and `cleanup` reclaims the disk, which garbage
   * collection calls once it has removed all it meant to.
   */
  readonly syncRemove?: boolean;
  /** Report each snapshot's upper directory in the `containerd.io/snapshot/overlay.upperdir` label. */
  readonly upperdirLabel?: boolean;
  /** Options for every overlay mount (not bind mounts), before the ones chosen for the kernel. */
  readonly mountOptions?: readonly string[];
}

/** The overlayfs snapshotter: a Snapshotter whose `cleanup` always exists. */
export type OverlaySnapshotter = Snapshotter & { cleanup(): Promise<void> };

const ZERO_USAGE: Usage = { size: 0, inodes: 0 };

/**
 * containerd's overlayfs snapshotter (plugins/snapshots/overlay): each snapshot is a directory
 * `ROOT/snapshots/<id>/` holding `fs`, its tree as a change set over its parents (overlay's upper
 * directory; the whole tree when it has no parent), and, for an active snapshot, `work`, overlay's scratch
 * directory. Committing renames nothing on disk: the active snapshot's `fs` becomes a lower layer as it
 * is. Metadata lives in `ROOT/metadata.db` (metadata-store.ts).
 *
 * It does not rebase (commit onto another parent) and does not remap ids, so it advertises neither.
 */
export async function createOverlaySnapshotter(opts: OverlaySnapshotterOptions): Promise<OverlaySnapshotter> {
  const { root, log } = opts;
  await mkdir(root, { recursive: true, mode: 0o700 });
  const snapshotsDir = join(root, 'snapshots');
  await mkdir(snapshotsDir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const layout: OverlayLayout = {
    upperPath: (id) => join(snapshotsDir, id, 'fs'),
    workPath: (id) => join(snapshotsDir, id, 'work'),
    overlayOptions: await overlayMountOptions(opts.mountOptions ?? []),
  };
  const store = openMetadataStore(join(root, 'metadata.db'));
  let closed = false;

  const labelled = (info: Info, id: string): Info =>
    opts.upperdirLabel ? { ...info, labels: { ...info.labels, [UPPERDIR_LABEL]: layout.upperPath(id) } } : info;

  /**
   * Create the snapshot's directory and its record in one transaction, as containerd does: the directory
   * is made under a temporary name, given the owner of the parent's tree (so the new tree's root looks like
   * the one it covers), and renamed to the snapshot's id only once the record exists. Anything failing
   * leaves neither. The few filesystem calls are synchronous so that the transaction holds across them.
   */
  function createSnapshot(kind: 'active' | 'view', key: string, parent: string, sopts: SnapshotOptions | undefined): Mount[] {
    let temp: string | undefined;
    try {
      const s = store.transaction(() => {
        temp = mkdtempSync(join(snapshotsDir, 'new-'));
        const fs = join(temp, 'fs');
        // chmod as well: the modes must not depend on the process's umask.
        mkdirSync(fs, 0o755);
        chmodSync(fs, 0o755);
        if (kind === 'active') {
          mkdirSync(join(temp, 'work'), 0o711);
          chmodSync(join(temp, 'work'), 0o711);
        }
        const created = store.createSnapshot(kind, key, parent, sopts?.labels, new Date());
        const nearest = created.parentIds[0];
        if (nearest !== undefined) {
          const st = statSync(layout.upperPath(nearest));
          lchownSync(fs, st.uid, st.gid);
        }
        renameSync(temp, join(snapshotsDir, created.id));
        temp = undefined;
        return created;
      });
      return overlayMounts(s, layout);
    } catch (err) {
      if (temp !== undefined) {
        try {
          rmSync(temp, { recursive: true, force: true });
        } catch (rmErr) {
          log.warn({ path: temp, err: rmErr }, 'failed to clean up temporary snapshot directory');
        }
      }
      throw err;
    }
  }

  /** Directories under snapshots/ that no snapshot owns: removed snapshots', and leftovers of failed creates. */
  const orphanDirectories = (): string[] => {
    const ids = store.ids();
    return readdirSync(snapshotsDir).filter((d) => !ids.has(d)).map((d) => join(snapshotsDir, d));
  };

  /**
   * Delete directories after the transaction that released them: their snapshots are already gone, so a
   * failure is only logged (cleanup will find them again), never reported as the call's.
   */
  const removeDirectories = async (dirs: readonly string[]): Promise<void> => {
    for (const dir of dirs) {
      await rm(dir, { recursive: true, force: true }).catch((err: unknown) => {
        log.warn({ path: dir, err }, 'failed to remove directory');
      });
    }
  };

  return {
    async stat(key) {
      const { id, info } = store.getInfo(key);
      return labelled(info, id);
    },

    async update(info, fieldpaths = []) {
      const updated = store.updateInfo(info, fieldpaths, new Date());
      return opts.upperdirLabel ? labelled(updated, store.getInfo(updated.name).id) : updated;
    },

    async usage(key) {
      const { id, info, usage } = store.getInfo(key);
      // An active snapshot is still changing: measure it now. A committed one was measured at commit.
      return info.kind === 'active' ? diskUsage(layout.upperPath(id)) : usage;
    },

    async mounts(key) {
      return overlayMounts(store.getSnapshot(key), layout);
    },

    async prepare(key, parent, sopts) {
      return createSnapshot('active', key, parent, sopts);
    },

    async view(key, parent, sopts) {
      return createSnapshot('view', key, parent, sopts);
    },

    async commit(name, key, copts) {
      const { id, info } = store.getInfo(key);
      const parent = copts?.parent ?? '';
      if (parent !== '' && parent !== info.parent) {
        // containerd rebases a parentless snapshot onto `parent` here; this snapshotter does not (and
        // does not advertise `rebase`, so clients do not ask).
        if (info.parent === '') throw new NotImplementedError(`cannot commit ${JSON.stringify(key)} onto ${JSON.stringify(parent)}: rebase is not supported`);
        throw new InvalidArgumentError(`cannot change parent of active snapshot ${JSON.stringify(key)} on commit`);
      }
      // Measured before the transaction (it walks the whole tree); a snapshot that is not active is
      // refused by commitActive, which is where containerd refuses it too.
      const usage = info.kind === 'active' ? await diskUsage(layout.upperPath(id)) : ZERO_USAGE;
      store.transaction(() => {
        if (store.getInfo(key).id !== id) throw new ConflictError(`snapshot ${key} was replaced while being committed`);
        store.commitActive(key, name, usage, copts?.labels, new Date());
      });
    },

    async remove(key) {
      const removals = store.transaction(() => {
        store.remove(key);
        return opts.syncRemove ? orphanDirectories() : [];
      });
      await removeDirectories(removals);
    },

    async walk(fn, ...filters) {
      const filter = snapshotFilter(filters);
      // Read up front, as containerd walks inside one read transaction: fn sees the snapshots that
      // existed when the walk began and may call the snapshotter itself.
      const matching = store.list().filter((s) => filter.match(s.info));
      for (const s of matching) await fn(labelled(s.info, s.id));
    },

    async cleanup() {
      await removeDirectories(store.transaction(orphanDirectories));
    },

    async close() {
      if (closed) return;
      closed = true;
      store.close();
    },
  };
}
