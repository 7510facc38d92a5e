import type { DescService } from '@bufbuild/protobuf';
import {
  ClientError,
  createClientFactory,
  ServerError,
  type CallContext,
  type Client,
  type Channel,
} from 'nice-grpc';
import { UnavailableError } from '@flotilla/errdefs';
import { rawDefinitionOf, type RpcServer } from '@flotilla/rpc';
import type { Backend } from './backend.js';

type Raw = Uint8Array;
type RawDefinition = ReturnType<typeof rawDefinitionOf>;
type RawClient = Client<RawDefinition>;

/** Chooses the backend for a call; `request` is the first message when the client does not stream. */
export type Resolver = (request: Raw | undefined) => Backend;

const factory = createClientFactory();


/** The backend's status goes back to the client exactly as it came (code and message). */
function relayError(err: unknown): never {
  if (err instanceof ClientError) throw new ServerError(err.code, err.details);
  throw err;
}

/**
 * Relay every method of `service` to the backend chosen per call, as raw bytes: the gateway decodes
 * nothing it does not need, so a relayed call costs one extra hop and no re-encoding. A backend that is
 * down answers Unavailable at once; one that comes back is used again by the next call.
 */
export function addRelay(server: RpcServer, service: DescService, resolve: Resolver): void {
  const def = rawDefinitionOf(service);
  const clients = new WeakMap<Channel, RawClient>();
  const clientFor = (b: Backend): RawClient => {
    const down = b.unavailable();
    if (down !== undefined) throw new UnavailableError(down);
    let c = clients.get(b.channel);
    if (!c) clients.set(b.channel, (c = factory.create(def, b.channel)));
    return c;
  };
  const impl: Record<string, unknown> = {};
  for (const method of service.methods) {
    const name = method.name;
    const call = (c: RawClient) => c[name] as unknown as (req: unknown, opts: object) => unknown;
    // The server already dropped transport headers from ctx.metadata: what is left is the call's own.
    const opts = (ctx: CallContext) => ({ metadata: ctx.metadata, signal: ctx.signal });
    switch (method.methodKind) {
      case 'unary':
        impl[name] = async (req: Raw, ctx: CallContext) => {
          try {
            return await (call(clientFor(resolve(req)))(req, opts(ctx)) as Promise<Raw>);
          } catch (err) {
            relayError(err);
          }
        };
        break;
      case 'server_streaming':
        impl[name] = async function* (req: Raw, ctx: CallContext) {
          try {
            yield* call(clientFor(resolve(req)))(req, opts(ctx)) as AsyncIterable<Raw>;
          } catch (err) {
            relayError(err);
          }
        };
        break;
      case 'client_streaming':
        impl[name] = async (reqs: AsyncIterable<Raw>, ctx: CallContext) => {
          try {
            return await (call(clientFor(resolve(undefined)))(reqs, opts(ctx)) as Promise<Raw>);
          } catch (err) {
            relayError(err);
          }
        };
        break;
      case 'bidi_streaming':
        impl[name] = async function* (reqs: AsyncIterable<Raw>, ctx: CallContext) {
          try {
            yield* call(clientFor(resolve(undefined)))(reqs, opts(ctx)) as AsyncIterable<Raw>;
          } catch (err) {
            relayError(err);
          }
        };
        break;
    }
  }
  server.add(def, impl as never);
}
