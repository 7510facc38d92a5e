import { create } from '@bufbuild/protobuf';
import { AnySchema, timestampFromDate, type Any } from '@bufbuild/protobuf/wkt';
import { NamespaceSchema, type Namespace as ProtoNamespace } from '@flotilla/proto/containerd/services/namespaces/v1/namespace_pb';
import { ImageSchema, type Image as ProtoImage } from '@flotilla/proto/containerd/services/images/v1/images_pb';
import { DescriptorSchema, type Descriptor as ProtoDescriptor } from '@flotilla/proto/containerd/types/descriptor_pb';
import { ContainerSchema, type Container as ProtoContainer } from '@flotilla/proto/containerd/services/containers/v1/containers_pb';
import { InvalidArgumentError } from '@flotilla/errdefs';
import type { Namespace } from './metadata/namespaces.js';
import type { Descriptor, Image, ImageInput } from './metadata/images.js';
import type { AnyValue, Container, ContainerInput } from './metadata/containers.js';

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

const anyToProto = (a: AnyValue): Any => create(AnySchema, { typeUrl: a.typeUrl, value: a.value });
const anyFromProto = (a: Any): AnyValue => ({ typeUrl: a.typeUrl, value: a.value });

export function containerToProto(c: Container): ProtoContainer {
  return create(ContainerSchema, {
    id: c.id,
    labels: { ...c.labels },
    image: c.image,
    runtime: { name: c.runtime.name, ...(c.runtime.options ? { options: anyToProto(c.runtime.options) } : {}) },
    spec: anyToProto(c.spec),
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshotKey,
    createdAt: timestampFromDate(c.createdAt),
    updatedAt: timestampFromDate(c.updatedAt),
    extensions: Object.fromEntries(Object.entries(c.extensions).map(([k, v]) => [k, anyToProto(v)])),
    sandbox: c.sandbox,
  });
}

/** A request's container: only what a client may set (timestamps are the store's); absent parts stay absent. */
export function containerFromProto(c: ProtoContainer): ContainerInput {
  return {
    id: c.id,
    labels: { ...c.labels },
    image: c.image,
    runtime: { name: c.runtime?.name ?? '', options: c.runtime?.options && anyFromProto(c.runtime.options) },
    spec: c.spec && anyFromProto(c.spec),
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshotKey,
    extensions: Object.fromEntries(Object.entries(c.extensions).map(([k, v]) => [k, anyFromProto(v)])),
    sandbox: c.sandbox,
  };
}
