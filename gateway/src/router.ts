import type { DescMethod, DescService } from '@bufbuild/protobuf';
import { ClientError, Metadata, ServerError, type CallContext } from 'nice-grpc';
import { UnavailableError } from '@flotilla/errdefs';
import { rawDefinitionOf, type RpcServer } from '@flotilla/rpc';
import type { H2Channel, RawCallOptions } from '@flotilla/rpc/client';
import type { Backend } from './backend.js';

type Raw = Uint8Array;

/** Chooses the backend for a call; `request` is the first message when the client does not stream. */
export type Resolver = (request: Raw | undefined) => Backend;

/**
 * Looks at a call before it is relayed, with its request when the client does not stream: throws to
 * answer it here, or returns metadata entries to add to what the backend receives.
 */
export type RelayGuard = (method: DescMethod, request: Raw | undefined, ctx: CallContext) => Readonly<Record<string, string>> | undefined;

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
export function addRelay(server: RpcServer, service: DescService, resolve: Resolver, guard?: RelayGuard): void {
  const def = rawDefinitionOf(service);
  const channelFor = (b: Backend): H2Channel => {
    const down = b.unavailable();
    if (down !== undefined) throw new UnavailableError(down);
    return b.h2;
  };
  // The server already dropped transport headers from ctx.metadata: what is left is the call's own.
  const optsFor = (method: DescMethod) => (ctx: CallContext, request?: Raw): RawCallOptions => {
    const extra = guard?.(method, request, ctx);
    if (extra === undefined) return { metadata: ctx.metadata, signal: ctx.signal };
    const metadata = Metadata(ctx.metadata);
    for (const [k, v] of Object.entries(extra)) metadata.set(k, v);
    return { metadata, signal: ctx.signal };
  };
  const impl: Record<string, unknown> = {};
  for (const method of service.methods) {
    const name = method.name;
    const path = def[name]!.path;
    const opts = optsFor(method);
    switch (method.methodKind) {
      case 'unary':
        impl[name] = async (req: Raw, ctx: CallContext) => {
          try {
            return await channelFor(resolve(req)).unary(path, req, opts(ctx, req));
          } catch (err) {
            relayError(err);
          }
        };
        break;
      case 'server_streaming':
        impl[name] = async function* (req: Raw, ctx: CallContext) {
          try {
            yield* channelFor(resolve(req)).stream(path, req, opts(ctx, req));
          } catch (err) {
            relayError(err);
          }
        };
        break;
      case 'client_streaming':
        impl[name] = async (reqs: AsyncIterable<Raw>, ctx: CallContext) => {
          try {
            return await channelFor(resolve(undefined)).unary(path, reqs, opts(ctx));
          } catch (err) {
            relayError(err);
          }
        };
        break;
      case 'bidi_streaming':
        impl[name] = async function* (reqs: AsyncIterable<Raw>, ctx: CallContext) {
          try {
            yield* channelFor(resolve(undefined)).stream(path, reqs, opts(ctx));
          } catch (err) {
            relayError(err);
          }
        };
        break;
    }
  }
  server.add(def, impl as never);
}
