import { createClientFactory, Metadata, type CallOptions, type Channel, type ClientMiddlewareCall } from 'nice-grpc';
import { Content } from '@flotilla/proto/containerd/services/content/v1/content_pb';
import { fromGrpcError } from '@flotilla/errdefs';
import { definitionOf, LEASE_KEY, NAMESPACE_KEY } from '@flotilla/rpc';
import { clientOf, type H2Channel } from '@flotilla/rpc/client';
import { infoFromProto, statusFromProto } from './convert.js';
import { grpcWriteTransport, type ContentClient } from './grpc-write-transport.js';
import { h2WriteDialer } from './h2-write-transport.js';
import { openRemoteWriter } from './proxy-writer.js';
import type { ContentStore } from './store.js';
import { serializeWriteRequest } from './write-request-codec.js';
import { decodeWriteResponse } from './write-response-codec.js';

/** As @flotilla/rpc/client's clients do: callers get errdefs classes, never gRPC statuses. */
async function* nativeErrors<Req, Res>(call: ClientMiddlewareCall<Req, Res>, options: CallOptions) {
  try {
    return yield* call.next(call.request, options);
  } catch (err) {
    throw fromGrpcError(err);
  }
}

/** The socket path of a channel to `unix://PATH` (what dialUnix and dialH2 make), else undefined. */
function unixSocketOf(channel: Channel | H2Channel): string | undefined {
  const target = isH2Channel(channel) ? channel.target : channel.getTarget();
  if (target.startsWith('unix://')) return target.slice('unix://'.length);
  if (target.startsWith('unix:')) return target.slice('unix:'.length);
  return undefined;
}

/**
 * The Content definition with Write's requests encoded by write-request-codec: the one message that
 * carries bulk bytes is the one worth encoding by hand. Its responses, one per request, are decoded by
 * hand too (write-response-codec.ts).
 */
const base = definitionOf(Content);
const definition = {
  ...base,
  write: {
    ...base.write,
    requestSerialize: serializeWriteRequest as (typeof base.write)['requestSerialize'],
    responseDeserialize: decodeWriteResponse,
  },
};
const factory = createClientFactory().use(nativeErrors);

function isH2Channel(c: Channel | H2Channel): c is H2Channel {
  return typeof (c as Partial<H2Channel>).unary === 'function';
}

export interface RemoteContentStoreOptions {
  /** Sent as `containerd-namespace` on every call, for a server that is namespaced (containerd, the gateway). */
  readonly namespace?: string;
  /** Sent as `containerd-lease` on every call: what the calls write is kept by that lease. */
  readonly lease?: string;
  /**
   * How Write calls travel. 'auto' (the default) uses a bare HTTP/2 stream when the channel is to a Unix
   * socket (h2-write-transport.ts) and gRPC's client otherwise; 'grpc' always uses gRPC's client (with
   * a nice-grpc Channel only: an H2Channel is always to a Unix socket).
   */
  readonly writeTransport?: 'auto' | 'grpc';
  /**
   * WRITE messages a writer may have in flight before it waits for their answers (default 1: each write
   * returns once the server applied it, as containerd's proxy does). A relay that answers its own client
   * from what it accepted (the gateway) uses more, so both of its hops stay busy.
   */
  readonly writeWindow?: number;
  /**
   * The server answers every WRITE with the exact offset and digest (a content process, containerd; not
   * the gateway, which answers before the bytes reach the content process): writers then answer status()
   * from those answers without a round trip (proxy-writer.ts).
   */
  readonly exactWriteAnswers?: boolean;
}

/**
 * A ContentStore served by another process over containerd.services.content.v1 (containerd's
 * content/proxy): the gateway's view of the content process, or anyone's view of a containerd. Errors
 * arrive as errdefs classes (the rpc client maps them).
 */
export function remoteContentStore(channel: Channel | H2Channel, opts: RemoteContentStoreOptions = {}): ContentStore {
  // Over an H2Channel every call but Write goes through the typed client; Write takes the bare stream.
  const h2 = isH2Channel(channel);
  const client = (h2 ? clientOf(Content, channel) : factory.create(definition, channel)) as ContentClient;
  const headers: Record<string, string> = {
    ...(opts.namespace !== undefined ? { [NAMESPACE_KEY]: opts.namespace } : {}),
    ...(opts.lease !== undefined ? { [LEASE_KEY]: opts.lease } : {}),
  };
  const call: CallOptions = Object.keys(headers).length > 0 ? { metadata: Metadata(headers) } : {};
  // Writes to a Unix socket skip gRPC's client for a bare HTTP/2 stream (see h2-write-transport.ts).
  const socket = opts.writeTransport === 'grpc' && !h2 ? undefined : unixSocketOf(channel);
  const dialer = socket !== undefined ? h2WriteDialer(socket) : undefined;
  return {
    async info(digest) {
      return infoFromProto((await client.info({ digest }, call)).info);
    },
    async update(info, fieldpaths = []) {
      const resp = await client.update({ info: { digest: info.digest, labels: { ...info.labels } }, updateMask: { paths: [...fieldpaths] } }, call);
      return infoFromProto(resp.info);
    },
    async *list(filters = []) {
      for await (const resp of client.list({ filters: [...filters] }, call)) {
        for (const info of resp.info) yield infoFromProto(info);
      }
    },
    async delete(digest) {
      await client.delete({ digest }, call);
    },
    async *read(digest, ropts = {}) {
      const req = { digest, offset: BigInt(ropts.offset ?? 0), size: BigInt(ropts.size ?? 0) };
      for await (const resp of client.read(req, call)) yield resp.data;
    },
    async status(ref) {
      return statusFromProto((await client.status({ ref }, call)).status);
    },
    async listStatuses(filters = []) {
      return (await client.listStatuses({ filters: [...filters] }, call)).statuses.map(statusFromProto);
    },
    async abort(ref) {
      await client.abort({ ref }, call);
    },
    writer(wopts) {
      return openRemoteWriter(dialer !== undefined ? dialer.open(headers) : grpcWriteTransport(client, call), wopts, opts.writeWindow ?? 1, opts.exactWriteAnswers ?? false);
    },
  };
}
