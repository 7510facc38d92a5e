import { create } from '@bufbuild/protobuf';
import {
  Containers,
  CreateContainerResponseSchema,
  GetContainerResponseSchema,
  ListContainerMessageSchema,
  ListContainersResponseSchema,
  UpdateContainerResponseSchema,
} from '@flotilla/proto/containerd/services/containers/v1/containers_pb';
import { ContainerCreateSchema, ContainerDeleteSchema, ContainerUpdateSchema } from '@flotilla/proto/containerd/events/container_pb';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { definitionOf, requireNamespace, type Implementation, type RpcServer } from '@flotilla/rpc';
import type { GrpcService } from '@flotilla/plugin';
import type { ContainerStore } from '../metadata/containers.js';
import type { Exchange } from '../events/exchange.js';
import type { GarbageCollector } from '../gc/collector.js';
import { containerFromProto, containerToProto, required } from '../convert.js';

/**
 * containerd.services.containers.v1 over the metadata store, as containerd's containers service: every
 * change is published (`/containers/create`, `/containers/update`, `/containers/delete`, with containerd's
 * payloads), and a deletion asks for garbage collection, since what the container held may now be free.
 */
export function containersService(store: ContainerStore, events: Exchange, gc: GarbageCollector): GrpcService {
  const impl: Implementation<typeof Containers> = {
    async get(req, ctx) {
      const container = store.get(requireNamespace(ctx.metadata), req.id);
      return create(GetContainerResponseSchema, { container: containerToProto(container) });
    },
    async list(req, ctx) {
      const containers = store.list(requireNamespace(ctx.metadata), req.filters);
      return create(ListContainersResponseSchema, { containers: containers.map(containerToProto) });
    },
    async *listStream(req, ctx) {
      // Read at once, as containerd does in one view transaction; sent one message per container so that
      // no reply nears the message size limit however many there are.
      const containers = store.list(requireNamespace(ctx.metadata), req.filters);
      for (const c of containers) yield create(ListContainerMessageSchema, { container: containerToProto(c) });
    },
    async create(req, ctx) {
      const ns = requireNamespace(ctx.metadata);
      const created = containerToProto(store.create(ns, containerFromProto(required(req.container, 'container'))));
      events.publish(ns, '/containers/create', ContainerCreateSchema, {
        id: created.id,
        image: created.image,
        runtime: { name: created.runtime?.name ?? '', options: created.runtime?.options },
      });
      return create(CreateContainerResponseSchema, { container: created });
    },
    async update(req, ctx) {
      // containerd checks the id before the namespace.
      if (req.container === undefined || req.container.id === '') throw new InvalidArgumentError('Container.ID required');
      const ns = requireNamespace(ctx.metadata);
      const updated = containerToProto(store.update(ns, containerFromProto(req.container), req.updateMask?.paths ?? []));
      events.publish(ns, '/containers/update', ContainerUpdateSchema, {
        id: updated.id,
        image: updated.image,
        labels: updated.labels,
        snapshotKey: updated.snapshotKey,
      });
      return create(UpdateContainerResponseSchema, { container: updated });
    },
    async delete(req, ctx) {
      const ns = requireNamespace(ctx.metadata);
      store.delete(ns, req.id);
      events.publish(ns, '/containers/delete', ContainerDeleteSchema, { id: req.id });
      gc.schedule();
      return {};
    },
  };
  return { name: Containers.typeName, register: (server: RpcServer) => server.add(definitionOf(Containers), impl) };
}
