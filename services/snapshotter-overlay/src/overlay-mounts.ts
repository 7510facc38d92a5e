import type { Mount } from '@flotilla/snapshots';
import type { StoredSnapshot } from './metadata-store.js';

/** Where a snapshot's directories are, and the options every overlay mount carries. */
export interface OverlayLayout {
  /** The snapshot's tree: its change set over its parents (overlay's upper directory). */
  upperPath(id: string): string;
  /** overlayfs's scratch directory for an active snapshot, beside its upper directory. */
  workPath(id: string): string;
  /** Appended to every overlay mount (`index=off`, `userxattr`, configured ones); not to bind mounts. */
  readonly overlayOptions: readonly string[];
}

/**
 * The mounts of an active snapshot or view, as containerd's overlay snapshotter describes them:
 *
 * - no parent: its own directory, bind-mounted (read-write for an active snapshot, read-only for a
 *   view), since overlayfs needs at least one lower layer;
 * - a view of one parent: that parent's directory, bind-mounted read-only (nothing to merge);
 * - otherwise an overlay: the parents as `lowerdir`, nearest first, and for an active snapshot its own
 *   directory as `upperdir` with its `workdir`. A view has no upper directory, so it is read-only.
 */
export function overlayMounts(s: StoredSnapshot, layout: OverlayLayout): Mount[] {
  const nearest = s.parentIds[0];
  if (nearest === undefined) {
    return [{ type: 'bind', source: layout.upperPath(s.id), target: '', options: [s.kind === 'view' ? 'ro' : 'rw', 'rbind'] }];
  }
  // Same order as containerd's (ctr snapshots mounts prints it): general options, work and upper, lowers.
  const options: string[] = [...layout.overlayOptions];
  if (s.kind === 'active') {
    options.push(`workdir=${layout.workPath(s.id)}`, `upperdir=${layout.upperPath(s.id)}`);
  } else if (s.parentIds.length === 1) {
    return [{ type: 'bind', source: layout.upperPath(nearest), target: '', options: ['ro', 'rbind'] }];
  }
  options.push(`lowerdir=${s.parentIds.map((id) => layout.upperPath(id)).join(':')}`);
  return [{ type: 'overlay', source: 'overlay', target: '', options }];
}
