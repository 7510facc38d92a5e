import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { NamespaceSchema, type Namespace as ProtoNamespace } from '@flotilla/proto/containerd/services/namespaces/v1/namespace_pb';
import { ImageSchema, type Image as ProtoImage } from '@flotilla/proto/containerd/services/images/v1/images_pb';
import { DescriptorSchema, type Descriptor as ProtoDescriptor } from '@flotilla/proto/containerd/types/descriptor_pb';
import { InvalidArgumentError } from '@flotilla/errdefs';
import type { Namespace } from './metadata/namespaces.js';
import type { Descriptor, Image, ImageInput } from './metadata/images.js';

/** proto ↔ domain for the services the gateway implements itself. */

export function namespaceToProto(ns: Namespace): ProtoNamespace {
  return create(NamespaceSchema, { name: ns.name, labels: { ...ns.labels } });
}

/** A request's message field that containerd treats as required. */
export function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new InvalidArgumentError(`${what} must be set`);
  return value;
}

export function descriptorToProto(d: Descriptor): ProtoDescriptor {
  return create(DescriptorSchema, { mediaType: d.mediaType, digest: d.digest, size: BigInt(d.size), annotations: { ...d.annotations } });
}

/** A descriptor as the domain keeps it; an absent one reads as empty, as Go's zero value does. */
export function descriptorFromProto(d: ProtoDescriptor | undefined): Descriptor {
  return { mediaType: d?.mediaType ?? '', digest: d?.digest ?? '', size: Number(d?.size ?? 0n), annotations: { ...d?.annotations } };
}

export function imageToProto(image: Image): ProtoImage {
  return create(ImageSchema, {
    name: image.name,
    labels: { ...image.labels },
    target: descriptorToProto(image.target),
    createdAt: timestampFromDate(image.createdAt),
    updatedAt: timestampFromDate(image.updatedAt),
  });
}

/** A request's image: only what a client may set (timestamps are the store's). */
export function imageFromProto(image: ProtoImage): ImageInput {
  return { name: image.name, labels: { ...image.labels }, target: descriptorFromProto(image.target) };
}
