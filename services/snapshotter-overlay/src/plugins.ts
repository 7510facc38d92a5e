import { PluginType, type Platform, type Registration } from '@flotilla/plugin';
import { snapshotsService, type Snapshotter } from '@flotilla/snapshots';
import { createOverlaySnapshotter } from './overlay-snapshotter.js';
import { warmUpOverlay } from './warm-up.js';

/** `[plugins."io.containerd.snapshotter.v1.overlayfs"]`, with containerd's keys and defaults. */
export interface OverlayConfig {
  /** Where snapshots live; '' means the plugin's own directory (ROOT/io.containerd.snapshotter.v1.overlayfs). */
  readonly root_path: string;
  /** Report each snapshot's upper directory in the `containerd.io/snapshot/overlay.upperdir` label. */
  readonly upperdir_label: boolean;
  /** Delete a removed snapshot's directories in Remove rather than in Cleanup. */
  readonly sync_remove: boolean;
  /** Options for every overlay mount. */
  readonly mount_options: readonly string[];
}

const defaults: OverlayConfig = { root_path: '', upperdir_label: false, sync_remove: false, mount_options: [] };

/** The platform introspection reports, as containerd's platforms.DefaultSpec() names this machine. */
function hostPlatform(): Platform[] {
  switch (process.arch) {
    case 'x64':
      return [{ os: 'linux', architecture: 'amd64' }];
    case 'arm64':
      return [{ os: 'linux', architecture: 'arm64', variant: 'v8' }];
    default:
      return [];
  }
}

/**
 * What `flotilla service snapshotter-overlay` hosts: the overlayfs snapshotter as
 * io.containerd.snapshotter.v1.overlayfs, and the Snapshots service over it. The service answers for
 * whatever snapshotter name a request carries: the gateway sends `overlayfs`, a containerd that loads this
 * process as a proxy plugin sends its own name for it. Namespaces are the gateway's business.
 */
export const overlayPlugins: Registration[] = [
  {
    type: PluginType.Snapshotter,
    id: 'overlayfs',
    config: defaults,
    platforms: hostPlatform(),
    init: (ctx) => {
      const { config } = ctx;
      const root = config.root_path !== '' ? config.root_path : ctx.root;
      ctx.exports['root'] = root;
      return createOverlaySnapshotter({
        root,
        log: ctx.log,
        syncRemove: config.sync_remove,
        upperdirLabel: config.upperdir_label,
        mountOptions: config.mount_options,
      });
    },
  } satisfies Registration<OverlayConfig>,
  {
    type: PluginType.GRPC,
    id: 'snapshots',
    requires: [PluginType.Snapshotter],
    init: (ctx) => {
      const snapshotter = ctx.get<Snapshotter>(PluginType.Snapshotter, 'overlayfs');
      return snapshotsService(() => snapshotter);
    },
    warmUp: warmUpOverlay,
  },
];
