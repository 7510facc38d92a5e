import { create } from '@bufbuild/protobuf';
import { timestampDate, timestampFromDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import {
  InfoSchema,
  Kind as ProtoKind,
  UsageResponseSchema,
  type Info as ProtoInfo,
  type UsageResponse,
} from '@flotilla/proto/containerd/services/snapshots/v1/snapshots_pb';
import { MountSchema, type Mount as ProtoMount } from '@flotilla/proto/containerd/types/mount_pb';
import type { Info, Kind, Mount, Usage } from './snapshotter.js';

/**
 * Every proto ↔ domain conversion of the snapshots API, for the server, the proxy and the gateway, as
 * containerd's core/snapshots/proxy/convert.go and mount.ToProto/FromProto do them. Usage is a number in
 * the domain (no snapshot nears 2^53 bytes) and an int64 (bigint) on the wire.
 */

/** Go's zero time.Time (0001-01-01 UTC): what an absent timestamp means to a Go peer. */
export const ZERO_TIME = new Date(-62135596800000);

/** An unknown kind reads as committed, as containerd's KindFromProto has it. */
export function kindFromProto(kind: ProtoKind): Kind {
  switch (kind) {
    case ProtoKind.ACTIVE:
      return 'active';
    case ProtoKind.VIEW:
      return 'view';
    default:
      return 'committed';
  }
}

export function kindToProto(kind: Kind): ProtoKind {
  switch (kind) {
    case 'active':
      return ProtoKind.ACTIVE;
    case 'view':
      return ProtoKind.VIEW;
    case 'committed':
      return ProtoKind.COMMITTED;
  }
}

function fromTimestamp(ts: Timestamp | undefined): Date {
  return ts === undefined ? new Date(ZERO_TIME) : timestampDate(ts);
}

export function infoToProto(info: Info): ProtoInfo {
  return create(InfoSchema, {
    name: info.name,
    parent: info.parent,
    kind: kindToProto(info.kind),
    createdAt: timestampFromDate(info.created),
    updatedAt: timestampFromDate(info.updated),
    labels: { ...info.labels },
  });
}

/** An absent Info reads as Go's zero value (a committed snapshot with no name), not a crash. */
export function infoFromProto(info: ProtoInfo | undefined): Info {
  return {
    kind: kindFromProto(info?.kind ?? ProtoKind.UNKNOWN),
    name: info?.name ?? '',
    parent: info?.parent ?? '',
    labels: { ...info?.labels },
    created: fromTimestamp(info?.createdAt),
    updated: fromTimestamp(info?.updatedAt),
  };
}

export function usageToProto(usage: Usage): UsageResponse {
  return create(UsageResponseSchema, { size: BigInt(usage.size), inodes: BigInt(usage.inodes) });
}

export function usageFromProto(usage: UsageResponse): Usage {
  return { size: Number(usage.size), inodes: Number(usage.inodes) };
}

export function mountToProto(m: Mount): ProtoMount {
  return create(MountSchema, { type: m.type, source: m.source, target: m.target, options: [...m.options] });
}

export function mountFromProto(m: ProtoMount): Mount {
  return { type: m.type, source: m.source, target: m.target, options: [...m.options] };
}

export const mountsToProto = (mounts: readonly Mount[]): ProtoMount[] => mounts.map(mountToProto);
export const mountsFromProto = (mounts: readonly ProtoMount[]): Mount[] => mounts.map(mountFromProto);

/** Labels as a request carries them; an empty map is none given (Go decodes it as nil). */
export function labelsFromProto(labels: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
  if (labels === undefined) return undefined;
  for (const _ in labels) return { ...labels };
  return undefined;
}
