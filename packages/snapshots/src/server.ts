import { create } from '@bufbuild/protobuf';
import {
  ListSnapshotsResponseSchema,
  MountsResponseSchema,
  PrepareSnapshotResponseSchema,
  Snapshots,
  StatSnapshotResponseSchema,
  UpdateSnapshotResponseSchema,
  ViewSnapshotResponseSchema,
  type Info as ProtoInfo,
} from '@flotilla/proto/containerd/services/snapshots/v1/snapshots_pb';
import { NotImplementedError } from '@flotilla/errdefs';
import type { GrpcService } from '@flotilla/plugin';
import { definitionOf, type Implementation, type RpcServer, type ServerCallContext } from '@flotilla/rpc';
import { infoFromProto, infoToProto, labelsFromProto, mountsToProto, usageToProto } from './convert.js';
import type { CommitOptions, SnapshotOptions, Snapshotter } from './snapshotter.js';

/** containerd's snapshots service sends List in blocks of this many. */
const LIST_BATCH = 100;

/**
 * Picks the snapshotter a call is for, from the request's `snapshotter` field and the call (its
 * namespace, say). A plugin process serving one snapshotter ignores the name, as containerd's
 * snapshotservice does for remote snapshotters: containerd sends its proxy plugin's name, whatever the
 * snapshotter calls itself. A resolver serving several throws InvalidArgument for a name it lacks.
 */
export type SnapshotterResolver = (name: string, ctx: ServerCallContext) => Snapshotter | Promise<Snapshotter>;

function createOptions(labels: Readonly<Record<string, string>> | undefined): SnapshotOptions {
  const l = labelsFromProto(labels);
  return l !== undefined ? { labels: l } : {};
}

/**
 * containerd.services.snapshots.v1.Snapshots over the snapshotter `resolve` gives for each call. It only
 * converts and delegates, as containerd's service does: errors are errdefs classes, which the rpc server
 * turns into the gRPC codes containerd would send.
 */
export function snapshotsService(resolve: SnapshotterResolver): GrpcService {
  const impl: Implementation<typeof Snapshots> = {
    async prepare(req, ctx) {
      const sn = await resolve(req.snapshotter, ctx);
      const mounts = await sn.prepare(req.key, req.parent, createOptions(req.labels));
      return create(PrepareSnapshotResponseSchema, { mounts: mountsToProto(mounts) });
    },

    async view(req, ctx) {
      const sn = await resolve(req.snapshotter, ctx);
      const mounts = await sn.view(req.key, req.parent, createOptions(req.labels));
      return create(ViewSnapshotResponseSchema, { mounts: mountsToProto(mounts) });
    },

    async mounts(req, ctx) {
      const sn = await resolve(req.snapshotter, ctx);
      return create(MountsResponseSchema, { mounts: mountsToProto(await sn.mounts(req.key)) });
    },

    async commit(req, ctx) {
      const sn = await resolve(req.snapshotter, ctx);
      const opts: CommitOptions = { ...createOptions(req.labels), ...(req.parent !== '' ? { parent: req.parent } : {}) };
      await sn.commit(req.name, req.key, opts);
      return {};
    },

    async remove(req, ctx) {
      await (await resolve(req.snapshotter, ctx)).remove(req.key);
      return {};
    },

    async stat(req, ctx) {
      const sn = await resolve(req.snapshotter, ctx);
      return create(StatSnapshotResponseSchema, { info: infoToProto(await sn.stat(req.key)) });
    },

    async update(req, ctx) {
      const sn = await resolve(req.snapshotter, ctx);
      const info = await sn.update(infoFromProto(req.info), req.updateMask?.paths ?? []);
      return create(UpdateSnapshotResponseSchema, { info: infoToProto(info) });
    },

    async *list(req, ctx) {
      const sn = await resolve(req.snapshotter, ctx);
      // The walk is gathered before the first block goes out: a walk hands out snapshots through a
      // callback, and the local snapshotter reads them all up front anyway. Blocks are containerd's size.
      const all: ProtoInfo[] = [];
      await sn.walk((info) => {
        all.push(infoToProto(info));
      }, ...req.filters);
      for (let i = 0; i < all.length; i += LIST_BATCH) {
        yield create(ListSnapshotsResponseSchema, { info: all.slice(i, i + LIST_BATCH) });
      }
    },

    async usage(req, ctx) {
      const sn = await resolve(req.snapshotter, ctx);
      return usageToProto(await sn.usage(req.key));
    },

    async cleanup(req, ctx) {
      const sn = await resolve(req.snapshotter, ctx);
      if (sn.cleanup === undefined) throw new NotImplementedError('snapshotter does not implement Cleanup method');
      await sn.cleanup();
      return {};
    },
  };
  return { name: Snapshots.typeName, register: (server: RpcServer) => server.add(definitionOf(Snapshots), impl) };
}
