import { create, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { NotFoundError, UnavailableError } from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';
import { createRpcServer, definitionOf, listenUnix, requireNamespace, withUnimplemented, type RpcServer } from '@flotilla/rpc';
import { ContainerSchema, Containers, type Container } from '@flotilla/proto/containerd/services/containers/v1/containers_pb';
import { Events } from '@flotilla/proto/containerd/services/events/v1/events_pb';
import type { Envelope } from '@flotilla/proto/containerd/types/event_pb';
import { OptionsSchema } from '@flotilla/proto/containerd/runc/v1/options_pb';

/**
 * The two gateway services the runtime process calls (containers Get, events Forward), for testing the
 * runtime process on its own: containers are whatever the test puts in, events are recorded.
 */
export interface FakeGateway {
  readonly socket: string;
  readonly events: Envelope[];
  /** Make Forward fail (Unavailable) while set, as a gateway that is down would. */
  refuseEvents: boolean;
  putContainer(namespace: string, c: { id: string; spec: object; runtime?: string; binaryName?: string }): void;
  deleteContainer(namespace: string, id: string): void;
  /** Topics (with the container id) of the events of one namespace, in arrival order. */
  topics(namespace: string): string[];
  close(): Promise<void>;
}

export async function startFakeGateway(socket: string, log: Logger): Promise<FakeGateway> {
  const server: RpcServer = createRpcServer(log);
  const containers = new Map<string, Container>();
  const gw: FakeGateway = {
    socket,
    events: [],
    refuseEvents: false,
    putContainer(ns, c) {
      containers.set(`${ns}/${c.id}`, create(ContainerSchema, {
        id: c.id,
        runtime: {
          name: c.runtime ?? 'io.containerd.runc.v2',
          ...(c.binaryName
            ? { options: create(AnySchema, { typeUrl: OptionsSchema.typeName, value: toBinary(OptionsSchema, create(OptionsSchema, { binaryName: c.binaryName })) }) }
            : {}),
        },
        spec: create(AnySchema, {
          typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
          value: Buffer.from(JSON.stringify(c.spec)),
        }),
      }));
    },
    deleteContainer(ns, id) {
      containers.delete(`${ns}/${id}`);
    },
    topics(ns) {
      return gw.events.filter((e) => e.namespace === ns).map((e) => e.topic);
    },
    async close() {
      server.forceShutdown();
    },
  };
  server.add(definitionOf(Containers), withUnimplemented(Containers, {
    async get(req, ctx) {
      const ns = requireNamespace(ctx.metadata);
      const c = containers.get(`${ns}/${req.id}`);
      if (!c) throw new NotFoundError(`container "${req.id}" in namespace "${ns}"`);
      return { container: c };
    },
  }));
  server.add(definitionOf(Events), withUnimplemented(Events, {
    async forward(req) {
      if (gw.refuseEvents) throw new UnavailableError('events service down');
      if (req.envelope) gw.events.push(req.envelope);
      return {};
    },
  }));
  await listenUnix(server, socket);
  return gw;
}
