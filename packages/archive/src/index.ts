export type { TarHeader, TarHeaderInit, TarEntryType, Timespec } from './tar-header.js';
export { createTarReader, type TarReader } from './tar-reader.js';
export { createTarWriter, type TarWriter, type TarSink } from './tar-writer.js';
export {
  detectCompression,
  decompress,
  compressInto,
  type Compression,
  type DecompressOptions,
  type CompressOptions,
  type CompressingSink,
  type ByteSink,
} from './compression.js';
export { applyLayer, type ApplyOptions, type ApplyResult } from './apply-layer.js';
export { entryPath, resolveInRoot } from './root-path.js';
export { WHITEOUT_PREFIX, OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR } from './whiteouts.js';
export { writeDiff, writeOverlayDiff, type WriteDiffOptions } from './write-diff.js';
export { doubleWalkChanges, type Change, type ChangeKind } from './changes.js';
export { overlayUpperChanges } from './overlay-changes.js';
