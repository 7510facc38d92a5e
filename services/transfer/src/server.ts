import { create } from '@bufbuild/protobuf';
import { ApplyResponseSchema, Diff, DiffResponseSchema } from '@flotilla/proto/containerd/services/diff/v1/diff_pb';
import { InvalidArgumentError } from '@flotilla/errdefs';
import type { GrpcService } from '@flotilla/plugin';
import { checkedContentOf, definitionOf, leaseOf, requireNamespace, type Implementation, type RpcServer, type ServerCallContext } from '@flotilla/rpc';
import { digestProblem } from '@flotilla/service-content';
import { mountsFromProto } from '@flotilla/snapshots';
import { descriptorFromProto, descriptorToProto } from './convert.js';
import type { CallScope, Differ } from './differ.js';

/** The namespace, lease and cancellation of a call, for the content store the differ uses. */
function scopeOf(ctx: ServerCallContext): CallScope {
  const namespace = requireNamespace(ctx.metadata);
  const lease = leaseOf(ctx.metadata);
  return { namespace, ...(lease !== undefined ? { lease } : {}), signal: ctx.signal };
}

/**
 * containerd.services.diff.v1.Diff over a Differ: converts and delegates. Errors are errdefs classes and
 * reach the client as their gRPC codes. Calls need a namespace, as containerd's (its content store is
 * namespaced).
 */
export function diffService(resolve: (ctx: ServerCallContext) => Differ): GrpcService {
  const impl: Implementation<typeof Diff> = {
    async apply(req, ctx) {
      const scope = scopeOf(ctx);
      const desc = descriptorFromProto(req.diff);
      const problem = digestProblem(desc.digest);
      if (problem !== undefined) throw new InvalidArgumentError(`layer digest ${JSON.stringify(desc.digest)}: ${problem}`);
      const checked = checkedContentOf(ctx.metadata, desc.digest);
      const applied = await resolve(ctx).apply(desc, mountsFromProto(req.mounts), { ...scope, syncFs: req.syncFs, ...(checked !== undefined ? { checked } : {}) });
      return create(ApplyResponseSchema, { applied: descriptorToProto(applied) });
    },

    async diff(req, ctx) {
      const scope = scopeOf(ctx);
      const epoch = req.sourceDateEpoch;
      const sourceDateEpoch = epoch !== undefined ? { sec: Number(epoch.seconds), nsec: epoch.nanos } : undefined;
      const desc = await resolve(ctx).compare(mountsFromProto(req.left), mountsFromProto(req.right), {
        ...scope,
        mediaType: req.mediaType,
        ref: req.ref,
        labels: req.labels,
        ...(sourceDateEpoch !== undefined ? { sourceDateEpoch } : {}),
      });
      return create(DiffResponseSchema, { diff: descriptorToProto(desc) });
    },
  };
  return { name: Diff.typeName, register: (server: RpcServer) => server.add(definitionOf(Diff), impl) };
}
