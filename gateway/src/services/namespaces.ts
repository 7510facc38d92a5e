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
import type { CallContext } from 'nice-grpc';
import { definitionOf, requireNamespace, type Implementation, type RpcServer } from '@flotilla/rpc';
import type { GrpcService } from '@flotilla/plugin';
import type { NamespaceStore } from '../metadata/namespaces.js';
import type { Exchange } from '../events/exchange.js';
import { namespaceToProto, required } from '../convert.js';

/**
 * The namespace an event about namespace `name` is published in. containerd publishes creations and
 * updates in the caller's namespace (the one its client runs in, `default` for ctr), as it publishes
 * everything; a caller with none (containerd then fails the call, after the change) gets the namespace's
 * own. Deletions are published in the deleted namespace.
 */
function callerNamespace(ctx: Pick<CallContext, 'metadata'>, name: string): string {
  try {
    return requireNamespace(ctx.metadata);
  } catch {
    return name;
  }
}

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
    async create(req, ctx) {
      const ns = required(req.namespace, 'namespace');
      const created = store.create(ns.name, ns.labels);
      events.publish(callerNamespace(ctx, created.name), '/namespaces/create', NamespaceCreateSchema, { name: created.name, labels: created.labels });
      return create(CreateNamespaceResponseSchema, { namespace: namespaceToProto(created) });
    },
    async update(req, ctx) {
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
      // The request's labels, as containerd sends them: with field paths, what the client set (not what the
      // namespace now has).
      events.publish(callerNamespace(ctx, ns.name), '/namespaces/update', NamespaceUpdateSchema, { name: ns.name, labels: ns.labels });
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
