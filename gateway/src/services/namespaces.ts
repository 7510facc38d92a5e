import { create } from '@bufbuild/protobuf';
import {
  Namespaces,
  CreateNamespaceResponseSchema,
  GetNamespaceResponseSchema,
  ListNamespacesResponseSchema,
  UpdateNamespaceResponseSchema,
} from '@flotilla/proto/containerd/services/namespaces/v1/namespace_pb';
import { NamespaceCreateSchema, NamespaceDeleteSchema, NamespaceUpdateSchema } from '@flotilla/proto/containerd/events/namespace_pb';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { definitionOf, type Implementation, type RpcServer } from '@flotilla/rpc';
import type { GrpcService } from '@flotilla/plugin';
import type { NamespaceStore } from '../metadata/namespaces.js';
import type { Exchange } from '../events/exchange.js';
import { namespaceToProto, required } from '../convert.js';

/** containerd.services.namespaces.v1 over the metadata store; every change is published as an event. */
export function namespacesService(store: NamespaceStore, events: Exchange): GrpcService {
  const impl: Implementation<typeof Namespaces> = {
    async get(req) {
      return create(GetNamespaceResponseSchema, { namespace: namespaceToProto(store.get(req.name)) });
    },
    async list() {
      // containerd ignores the request's filter here; so do we, so scripts behave the same on both.
      return create(ListNamespacesResponseSchema, { namespaces: store.list().map(namespaceToProto) });
    },
    async create(req) {
      const ns = required(req.namespace, 'namespace');
      const created = store.create(ns.name, ns.labels);
      events.publish(created.name, '/namespaces/create', NamespaceCreateSchema, { name: created.name, labels: created.labels });
      return create(CreateNamespaceResponseSchema, { namespace: namespaceToProto(created) });
    },
    async update(req) {
      const ns = required(req.namespace, 'namespace');
      const paths = req.updateMask?.paths ?? [];
      if (paths.length > 0) {
        for (const path of paths) {
          if (!path.startsWith('labels.')) throw new InvalidArgumentError(`cannot update ${JSON.stringify(path)} field`);
        }
        for (const path of paths) {
          const key = path.slice('labels.'.length);
          store.setLabel(ns.name, key, ns.labels[key] ?? '');
        }
      } else {
        store.replaceLabels(ns.name, ns.labels);
      }
      const updated = store.get(ns.name);
      events.publish(updated.name, '/namespaces/update', NamespaceUpdateSchema, { name: updated.name, labels: updated.labels });
      return create(UpdateNamespaceResponseSchema, { namespace: namespaceToProto(updated) });
    },
    async delete(req) {
      store.delete(req.name);
      events.publish(req.name, '/namespaces/delete', NamespaceDeleteSchema, { name: req.name });
      return {};
    },
  };
  return { name: Namespaces.typeName, register: (server: RpcServer) => server.add(definitionOf(Namespaces), impl) };
}
