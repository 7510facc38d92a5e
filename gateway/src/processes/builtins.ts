import type { DescService } from '@bufbuild/protobuf';
import { Diff } from '@flotilla/proto/containerd/services/diff/v1/diff_pb';
import { Controller } from '@flotilla/proto/containerd/services/sandbox/v1/sandbox_pb';
import { Streaming } from '@flotilla/proto/containerd/services/streaming/v1/streaming_pb';
import { Tasks } from '@flotilla/proto/containerd/services/tasks/v1/tasks_pb';
import { Transfer } from '@flotilla/proto/containerd/services/transfer/v1/transfer_pb';
import type { ServiceName } from '@flotilla/plugin';

export interface BuiltinProcess {
  readonly name: ServiceName;
  /** containerd API services this process owns: the gateway relays their calls to it unchanged. */
  readonly services: readonly DescService[];
  /** Snapshotter names it serves: the gateway's namespaced snapshot metadata fronts it under each. */
  readonly snapshotters: readonly string[];
}

/**
 * Which process owns which part of the containerd API. The gateway keeps namespaces, images, containers,
 * leases, events, introspection and GC itself; everything else belongs to exactly one process.
 */
export const builtinProcesses: readonly BuiltinProcess[] = [
  // Content is served by the gateway itself (namespaced metadata) over the content process's store.
  { name: 'content', services: [], snapshotters: [] },
  { name: 'snapshotter-overlay', services: [], snapshotters: ['overlayfs'] },
  { name: 'snapshotter-blockfile', services: [], snapshotters: ['blockfile'] },
  { name: 'runtime', services: [Tasks], snapshotters: [] },
  { name: 'sandbox', services: [Controller], snapshotters: [] },
  { name: 'transfer', services: [Transfer, Diff, Streaming], snapshotters: [] },
  { name: 'nri', services: [], snapshotters: [] },
];

