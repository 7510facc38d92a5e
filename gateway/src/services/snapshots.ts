import { InvalidArgumentError } from '@flotilla/errdefs';
import { leaseOf, requireNamespace } from '@flotilla/rpc';
import type { SnapshotterResolver } from '@flotilla/snapshots';
import type { NamespacedSnapshots } from '../metadata/snapshots.js';

/**
 * Which snapshotter a Snapshots call is for, as containerd's snapshots service picks it: by the request's
 * name first (an unknown one is InvalidArgument whatever else the call carries), then as the call's
 * namespace sees it, with what it creates added to the call's lease.
 */
export function snapshotterByName(lookup: (name: string) => NamespacedSnapshots | undefined): SnapshotterResolver {
  return (name, ctx) => {
    const sn = lookup(name);
    if (!sn) throw new InvalidArgumentError(`snapshotter not loaded: ${name}`);
    return sn.snapshotter(requireNamespace(ctx.metadata), leaseOf(ctx.metadata));
  };
}
