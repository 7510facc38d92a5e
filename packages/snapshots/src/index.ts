export type {
  Kind,
  Info,
  InfoUpdate,
  Usage,
  Mount,
  SnapshotOptions,
  CommitOptions,
  WalkFunc,
  Snapshotter,
} from './snapshotter.js';
export {
  ZERO_TIME,
  kindFromProto,
  kindToProto,
  infoFromProto,
  infoToProto,
  usageFromProto,
  usageToProto,
  mountFromProto,
  mountToProto,
  mountsFromProto,
  mountsToProto,
  labelsFromProto,
} from './convert.js';
export { adaptSnapshot, snapshotFilter } from './snapshot-filters.js';
export { snapshotsService, type SnapshotterResolver } from './server.js';
export { remoteSnapshotter, type RemoteSnapshotterOptions } from './proxy.js';
export { mountAll, unmountAll } from './mount.js';
export { parseMountOptions, parseOverlayData, type MountOptions, type OverlayData } from './mount-options.js';
export { exerciseSnapshotter } from './exercise.js';
