import { create } from '@bufbuild/protobuf';
import { timestampDate, timestampFromDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import {
  InfoSchema,
  StatusSchema,
  type Info as ProtoInfo,
  type Status as ProtoStatus,
} from '@flotilla/proto/containerd/services/content/v1/content_pb';
import type { Info, Status } from './store.js';

/**
 * Every proto ↔ domain conversion of the content API, for the server, the proxy and the gateway.
 * Domain sizes are numbers (a blob tops out far below 2^53), proto's int64 are bigint.
 */

/** Go's zero time.Time (0001-01-01 UTC), what an unset timestamp means to a Go client. */
export const ZERO_TIME = new Date(-62135596800000);

export function toTimestamp(d: Date): Timestamp {
  return timestampFromDate(d);
}

/** An absent timestamp reads as Go's zero time, as protobuf.FromTimestamp(nil) does. */
export function fromTimestamp(ts: Timestamp | undefined): Date {
  return ts === undefined ? new Date(ZERO_TIME) : timestampDate(ts);
}

export function infoToProto(info: Info): ProtoInfo {
  return create(InfoSchema, {
    digest: info.digest,
    size: BigInt(info.size),
    createdAt: timestampFromDate(info.createdAt),
    updatedAt: timestampFromDate(info.updatedAt),
    labels: { ...info.labels },
  });
}

/** An absent Info reads as an empty one (Go's zero value), not a crash. */
export function infoFromProto(info: ProtoInfo | undefined): Info {
  return {
    digest: info?.digest ?? '',
    size: Number(info?.size ?? 0n),
    createdAt: fromTimestamp(info?.createdAt),
    updatedAt: fromTimestamp(info?.updatedAt),
    labels: { ...info?.labels },
  };
}

export function statusToProto(s: Status): ProtoStatus {
  return create(StatusSchema, {
    ref: s.ref,
    offset: BigInt(s.offset),
    total: BigInt(s.total),
    expected: s.expected,
    startedAt: timestampFromDate(s.startedAt),
    updatedAt: timestampFromDate(s.updatedAt),
  });
}

export function statusFromProto(s: ProtoStatus | undefined): Status {
  return {
    ref: s?.ref ?? '',
    offset: Number(s?.offset ?? 0n),
    total: Number(s?.total ?? 0n),
    expected: s?.expected ?? '',
    startedAt: fromTimestamp(s?.startedAt),
    updatedAt: fromTimestamp(s?.updatedAt),
  };
}

/** Labels as a request carries them; an empty map means none given (Go decodes it as nil). */
export function labelsFromProto(labels: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
  if (labels === undefined) return undefined;
  for (const _ in labels) return { ...labels };
  return undefined;
}
