import { create } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { Events } from '@flotilla/proto/containerd/services/events/v1/events_pb';
import { EnvelopeSchema } from '@flotilla/proto/containerd/types/event_pb';
import { errorClasses, isErrdefs } from '@flotilla/errdefs';
import { definitionOf, requireNamespace, type Implementation, type RpcServer } from '@flotilla/rpc';
import type { GrpcService } from '@flotilla/plugin';
import type { Exchange } from '../events/exchange.js';
import { validateEnvelope, validateTopic } from '../events/validate.js';

/** The same error with containerd's context in front (the kind unchanged). */
function prefixed(prefix: string, err: unknown): unknown {
  return isErrdefs(err) ? new errorClasses[err.kind](`${prefix}: ${err.message}`, { cause: err }) : err;
}

/**
 * containerd.services.events.v1 over the gateway's exchange. Publish stamps an event with the caller's
 * namespace and the time; Forward passes an envelope made elsewhere (a plugin process relaying its shims)
 * through untouched; Subscribe streams everything published from then on that its filters match, until
 * the client goes away, or the subscriber falls too far behind and the stream ends ResourceExhausted.
 */
export function eventsService(exchange: Exchange): GrpcService {
  const impl: Implementation<typeof Events> = {
    async publish(req, ctx) {
      let namespace: string;
      try {
        namespace = requireNamespace(ctx.metadata);
      } catch (err) {
        throw prefixed('failed publishing event', err);
      }
      validateTopic(req.topic);
      // The event is not decoded: an Any of any type goes through, as containerd passes it on unread.
      exchange.forward(create(EnvelopeSchema, { timestamp: timestampNow(), namespace, topic: req.topic, event: req.event }));
      return {};
    },
    async forward(req) {
      const envelope = req.envelope ?? create(EnvelopeSchema);
      validateEnvelope(envelope);
      exchange.forward(envelope);
      return {};
    },
    async *subscribe(req, ctx) {
      let events;
      try {
        events = exchange.subscribe(ctx.signal, { filters: req.filters });
      } catch (err) {
        throw prefixed('subscription error', err);
      }
      // Headers now: the subscription is in place, and a client that waits for them knows it will see
      // whatever is published from here on.
      ctx.sendHeader();
      yield* events;
    },
  };
  return { name: Events.typeName, register: (server: RpcServer) => server.add(definitionOf(Events), impl) };
}
