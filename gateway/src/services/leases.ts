import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  Leases,
  CreateResponseSchema,
  ListResponseSchema,
  ListResourcesResponseSchema,
  LeaseSchema,
} from '@flotilla/proto/containerd/services/leases/v1/leases_pb';
import { definitionOf, requireNamespace, type Implementation, type RpcServer } from '@flotilla/rpc';
import type { GrpcService } from '@flotilla/plugin';
import type { Lease, LeaseStore } from '../metadata/leases.js';
import { compileFilters } from '../filters.js';
import { required } from '../convert.js';
import type { GarbageCollector } from '../gc/collector.js';

function leaseToProto(l: Lease) {
  return create(LeaseSchema, { id: l.id, createdAt: timestampFromDate(l.createdAt), labels: { ...l.labels } });
}

/** containerd.services.leases.v1 over the metadata store. */
export function leasesService(store: LeaseStore, gc: GarbageCollector): GrpcService {
  const impl: Implementation<typeof Leases> = {
    async create(req, ctx) {
      const ns = requireNamespace(ctx.metadata);
      return create(CreateResponseSchema, { lease: leaseToProto(store.create(ns, req.id, req.labels)) });
    },
    async delete(req, ctx) {
      store.delete(requireNamespace(ctx.metadata), req.id);
      // What the lease held may now be garbage: `sync` waits for the collection, as containerd's does.
      if (req.sync) await gc.collect();
      else gc.schedule();
      return {};
    },
    async list(req, ctx) {
      const ns = requireNamespace(ctx.metadata);
      const filter = compileFilters(req.filters);
      const leases = store.list(ns).filter((l) => filter({ id: l.id }, l.labels));
      return create(ListResponseSchema, { leases: leases.map(leaseToProto) });
    },
    async addResource(req, ctx) {
      store.addResource(requireNamespace(ctx.metadata), req.id, required(req.resource, 'resource'));
      return {};
    },
    async deleteResource(req, ctx) {
      store.deleteResource(requireNamespace(ctx.metadata), req.id, required(req.resource, 'resource'));
      return {};
    },
    async listResources(req, ctx) {
      const resources = store.listResources(requireNamespace(ctx.metadata), req.id);
      return create(ListResourcesResponseSchema, { resources: resources.map((r) => ({ id: r.id, type: r.type })) });
    },
  };
  return { name: Leases.typeName, register: (server: RpcServer) => server.add(definitionOf(Leases), impl) };
}
