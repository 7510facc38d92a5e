/**
 * Every plugin type string Flotilla knows, in one place. They are containerd's, so that `ctr plugins ls`
 * and `[plugins."<type>.<id>"]` config sections mean the same thing here as there.
 */
export const PluginType = {
  Content: 'io.containerd.content.v1',
  Snapshotter: 'io.containerd.snapshotter.v1',
  Differ: 'io.containerd.differ.v1',
  RuntimeV2: 'io.containerd.runtime.v2',
  SandboxController: 'io.containerd.sandbox.controller.v1',
  SandboxStore: 'io.containerd.sandbox.store.v1',
  Transfer: 'io.containerd.transfer.v1',
  Streaming: 'io.containerd.streaming.v1',
  NRI: 'io.containerd.nri.v1',
  GRPC: 'io.containerd.grpc.v1',
  TTRPC: 'io.containerd.ttrpc.v1',
  Service: 'io.containerd.service.v1',
  Metadata: 'io.containerd.metadata.v1',
  Event: 'io.containerd.event.v1',
  Lease: 'io.containerd.lease.v1',
  GC: 'io.containerd.gc.v1',
  Internal: 'io.containerd.internal.v1',
  Warning: 'io.containerd.warning.v1',
  CRI: 'io.containerd.cri.v1',
  /** Flotilla's own: one entry per plugin process the gateway supervises, whatever plugins it hosts. */
  Process: 'io.flotilla.process.v1',
} as const;

export type PluginType = (typeof PluginType)[keyof typeof PluginType];

/**
 * `[proxy_plugins.NAME] type = "..."` accepts containerd's short names as well as full type strings;
 * containerd 2.0 knows these four kinds of external plugin.
 */
export const proxyPluginTypes: Readonly<Record<string, PluginType>> = {
  snapshot: PluginType.Snapshotter,
  [PluginType.Snapshotter]: PluginType.Snapshotter,
  content: PluginType.Content,
  [PluginType.Content]: PluginType.Content,
  sandbox: PluginType.SandboxController,
  [PluginType.SandboxController]: PluginType.SandboxController,
  diff: PluginType.Differ,
  [PluginType.Differ]: PluginType.Differ,
};
