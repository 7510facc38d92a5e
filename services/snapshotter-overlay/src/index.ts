export {
  createOverlaySnapshotter,
  UPPERDIR_LABEL,
  type OverlaySnapshotter,
  type OverlaySnapshotterOptions,
} from './overlay-snapshotter.js';
export { overlayPlugins, type OverlayConfig } from './plugins.js';
