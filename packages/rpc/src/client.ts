import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import {
  createChannel,
  createClientFactory,
  type CallOptions,
  type Channel,
  type Client,
  type ClientMiddlewareCall,
} from 'nice-grpc';
import { fromGrpcError } from '@flotilla/errdefs';
import { MAX_MESSAGE_BYTES } from './h2-server.js';
import { definitionOf, type Definition } from './definition.js';
import type { H2Channel } from './h2-channel.js';
import { h2ClientOf } from './h2-client.js';

export { dialH2, requestHead, statusOfHttp, statusOfReset, type H2Channel, type RawCallOptions } from './h2-channel.js';

/** Proxy clients hand errdefs classes to their callers, never gRPC statuses. */
async function* nativeErrors<Req, Res>(call: ClientMiddlewareCall<Req, Res>, options: CallOptions) {
  try {
    return yield* call.next(call.request, options);
  } catch (err) {
    throw fromGrpcError(err);
  }
}

const factory = createClientFactory().use(nativeErrors);

export function dialUnix(path: string): Channel {
  return createChannel(`unix://${path}`, undefined, {
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    // A plugin process that restarts should be found again quickly, not after grpc-js's long backoff.
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 1000,
  });
}

export type ServiceClient<S extends GenServiceMethods> = Client<Definition<S>>;

/**
 * A typed client of `service`: over grpc-js for a nice-grpc Channel, over our own HTTP/2 client alone for an
 * H2Channel. Both reject with errdefs classes.
 */
export function clientOf<S extends GenServiceMethods>(service: GenService<S>, channel: Channel | H2Channel): ServiceClient<S> {
  if (isH2Channel(channel)) return h2ClientOf(service, channel) as ServiceClient<S>;
  return factory.create(definitionOf(service), channel) as ServiceClient<S>;
}

function isH2Channel(c: Channel | H2Channel): c is H2Channel {
  return typeof (c as Partial<H2Channel>).unary === 'function';
}
