import { create } from '@bufbuild/protobuf';
import { NamespaceSchema, type Namespace as ProtoNamespace } from '@flotilla/proto/containerd/services/namespaces/v1/namespace_pb';
import { InvalidArgumentError } from '@flotilla/errdefs';
import type { Namespace } from './metadata/namespaces.js';

/** proto ↔ domain for the services the gateway implements itself. */

export function namespaceToProto(ns: Namespace): ProtoNamespace {
  return create(NamespaceSchema, { name: ns.name, labels: { ...ns.labels } });
}

/** A request's message field that containerd treats as required. */
export function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new InvalidArgumentError(`${what} must be set`);
  return value;
}
