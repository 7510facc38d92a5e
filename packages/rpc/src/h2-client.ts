import { fromBinary, type MessageInitShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import type { CallOptions } from 'nice-grpc-common';
import { fromGrpcError } from '@flotilla/errdefs';
import { serializer } from './definition.js';
import type { H2Channel, RawCallOptions } from './h2-channel.js';

const rawOptions = (o: CallOptions | undefined): RawCallOptions => ({
  ...(o?.metadata !== undefined ? { metadata: o.metadata } : {}),
  ...(o?.signal !== undefined ? { signal: o.signal } : {}),
});

/**
 * A typed client for `service` over an H2Channel, shaped as nice-grpc's clients are (methods by their
 * camelCase names; unary calls return a promise, streamed responses an async iterable, streamed requests
 * are taken as one) and, like the proxy clients built on them, rejecting with errdefs classes rather
 * than gRPC statuses. Of nice-grpc's call options it reads `metadata` and `signal`.
 */
export function h2ClientOf<S extends GenServiceMethods>(service: GenService<S>, channel: H2Channel): Record<string, unknown> {
  const client: Record<string, unknown> = {};
  for (const method of service.methods) {
    const path = `/${service.typeName}/${method.name}`;
    const encode = serializer(method.input);
    const decode = (b: Uint8Array) => fromBinary(method.output, b);
    async function* encodeAll(reqs: AsyncIterable<MessageInitShape<typeof method.input>>) {
      for await (const r of reqs) yield encode(r);
    }
    async function* responses(requests: Uint8Array | AsyncIterable<Uint8Array>, o: CallOptions | undefined) {
      try {
        for await (const m of channel.stream(path, requests, rawOptions(o))) yield decode(m);
      } catch (err) {
        throw fromGrpcError(err);
      }
    }
    async function one(requests: Uint8Array | AsyncIterable<Uint8Array>, o: CallOptions | undefined) {
      let bytes: Uint8Array;
      try {
        bytes = await channel.unary(path, requests, rawOptions(o));
      } catch (err) {
        throw fromGrpcError(err);
      }
      return decode(bytes);
    }
    switch (method.methodKind) {
      case 'unary':
        client[method.localName] = (req: MessageInitShape<typeof method.input>, o?: CallOptions) => one(encode(req), o);
        break;
      case 'server_streaming':
        client[method.localName] = (req: MessageInitShape<typeof method.input>, o?: CallOptions) => responses(encode(req), o);
        break;
      case 'client_streaming':
        client[method.localName] = (reqs: AsyncIterable<MessageInitShape<typeof method.input>>, o?: CallOptions) => one(encodeAll(reqs), o);
        break;
      case 'bidi_streaming':
        client[method.localName] = (reqs: AsyncIterable<MessageInitShape<typeof method.input>>, o?: CallOptions) => responses(encodeAll(reqs), o);
        break;
    }
  }
  return client;
}
