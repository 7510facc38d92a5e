import { create } from '@bufbuild/protobuf';
import { DescriptorSchema, type Descriptor as ProtoDescriptor } from '@flotilla/proto/containerd/types/descriptor_pb';
import type { Descriptor } from './differ.js';

/** Descriptors between the wire (int64 sizes as bigint) and the domain (numbers). */
export function descriptorToProto(d: Descriptor): ProtoDescriptor {
  return create(DescriptorSchema, {
    mediaType: d.mediaType,
    digest: d.digest,
    size: BigInt(d.size),
    annotations: { ...d.annotations },
  });
}

/** An absent descriptor reads as an empty one (Go's zero value). */
export function descriptorFromProto(d: ProtoDescriptor | undefined): Descriptor {
  const annotations = d?.annotations ?? {};
  return {
    mediaType: d?.mediaType ?? '',
    digest: d?.digest ?? '',
    size: Number(d?.size ?? 0n),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
}
