import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Metadata, type CallOptions, type Channel } from 'nice-grpc';
import { InfoSchema, Kind as ProtoKind, Snapshots } from '@flotilla/proto/containerd/services/snapshots/v1/snapshots_pb';
import { LEASE_KEY, NAMESPACE_KEY } from '@flotilla/rpc';
import { clientOf, type H2Channel } from '@flotilla/rpc/client';
import { infoFromProto, kindToProto, mountsFromProto, usageFromProto } from './convert.js';
import type { InfoUpdate, SnapshotOptions, Snapshotter } from './snapshotter.js';

export interface RemoteSnapshotterOptions {
  /** Sent as `containerd-namespace` on every call, for a server that is namespaced (containerd, the gateway). */
  readonly namespace?: string;
  /** Sent as `containerd-lease` on every call: the snapshots the calls make are kept by that lease. */
  readonly lease?: string;
}

/**
 * A Snapshotter served by another process over containerd.services.snapshots.v1 (containerd's
 * core/snapshots/proxy): the gateway's view of a snapshotter process or a proxy plugin, or a test's view of
 * either. `name` goes in every request's `snapshotter` field. Errors arrive as errdefs classes (the rpc
 * client maps the gRPC codes back). The channel is the caller's: close() leaves it open.
 */
export function remoteSnapshotter(channel: Channel | H2Channel, name: string, opts: RemoteSnapshotterOptions = {}): Snapshotter {
  const client = clientOf(Snapshots, channel);
  const headers: Record<string, string> = {
    ...(opts.namespace !== undefined ? { [NAMESPACE_KEY]: opts.namespace } : {}),
    ...(opts.lease !== undefined ? { [LEASE_KEY]: opts.lease } : {}),
  };
  const call: CallOptions = Object.keys(headers).length > 0 ? { metadata: Metadata(headers) } : {};
  const labelsOf = (o: SnapshotOptions | undefined) => ({ ...o?.labels });
  return {
    async stat(key) {
      return infoFromProto((await client.stat({ snapshotter: name, key }, call)).info);
    },
    async update(info: InfoUpdate, fieldpaths = []) {
      const proto = create(InfoSchema, {
        name: info.name,
        parent: info.parent ?? '',
        kind: info.kind !== undefined ? kindToProto(info.kind) : ProtoKind.UNKNOWN,
        labels: { ...info.labels },
        ...(info.created !== undefined ? { createdAt: timestampFromDate(info.created) } : {}),
        ...(info.updated !== undefined ? { updatedAt: timestampFromDate(info.updated) } : {}),
      });
      const resp = await client.update({ snapshotter: name, info: proto, updateMask: { paths: [...fieldpaths] } }, call);
      return infoFromProto(resp.info);
    },
    async usage(key) {
      return usageFromProto(await client.usage({ snapshotter: name, key }, call));
    },
    async mounts(key) {
      return mountsFromProto((await client.mounts({ snapshotter: name, key }, call)).mounts);
    },
    async prepare(key, parent, o) {
      return mountsFromProto((await client.prepare({ snapshotter: name, key, parent, labels: labelsOf(o) }, call)).mounts);
    },
    async view(key, parent, o) {
      return mountsFromProto((await client.view({ snapshotter: name, key, parent, labels: labelsOf(o) }, call)).mounts);
    },
    async commit(commitName, key, o) {
      await client.commit({ snapshotter: name, name: commitName, key, labels: labelsOf(o), parent: o?.parent ?? '' }, call);
    },
    async remove(key) {
      await client.remove({ snapshotter: name, key }, call);
    },
    async walk(fn, ...filters) {
      // Leaving the loop early (fn threw) cancels the stream.
      for await (const resp of client.list({ snapshotter: name, filters }, call)) {
        for (const info of resp.info) await fn(infoFromProto(info));
      }
    },
    async cleanup() {
      await client.cleanup({ snapshotter: name }, call);
    },
    async close() {
      // Nothing of its own to release, as containerd's proxy.
    },
  };
}
