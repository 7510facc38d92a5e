import { MS } from '@flotilla/native';
import { parseMountOptions, parseOverlayData, type Mount } from '@flotilla/snapshots';

/**
 * Reading a snapshot's directories out of its mounts, to work on them without mounting: an active
 * overlay snapshot is an upper directory over lower ones; a read-only snapshot is a stack of directories.
 */

export interface OverlayUpper {
  readonly upperdir: string;
  /** Top-most first, as in the mount options. */
  readonly lowerdirs: readonly string[];
}

/** The upper and lower directories of mounts that are one writable overlay, else undefined. */
export function overlayUpper(mounts: readonly Mount[]): OverlayUpper | undefined {
  const [m] = mounts;
  if (mounts.length !== 1 || m === undefined || m.type !== 'overlay') return undefined;
  const o = parseOverlayData(parseMountOptions(m.options).data);
  return o.upperdir === undefined ? undefined : { upperdir: o.upperdir, lowerdirs: o.lowerdirs };
}

/**
 * The directories read-only mounts stack, top-most first: none for no mounts, a bind mount's source, an
 * overlay's lower directories. Undefined for anything else (a writable overlay, other filesystems).
 */
export function layerDirs(mounts: readonly Mount[]): readonly string[] | undefined {
  if (mounts.length === 0) return [];
  const [m] = mounts;
  if (mounts.length !== 1 || m === undefined) return undefined;
  const { flags, data } = parseMountOptions(m.options);
  if (m.type === 'bind' || (flags & MS.MS_BIND) !== 0) return [m.source];
  if (m.type !== 'overlay') return undefined;
  const o = parseOverlayData(data);
  return o.upperdir === undefined ? o.lowerdirs : undefined;
}
