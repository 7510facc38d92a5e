import { create, toBinary, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { AnySchema, timestampNow } from '@bufbuild/protobuf/wkt';
import { Metadata } from 'nice-grpc';
import { NAMESPACE_KEY } from '@flotilla/rpc';
import { clientOf, type H2Channel } from '@flotilla/rpc/client';
import { Events } from '@flotilla/proto/containerd/services/events/v1/events_pb';
import { EnvelopeSchema, type Envelope } from '@flotilla/proto/containerd/types/event_pb';

/**
 * Where task events go: the gateway's event service, which every subscriber (ctr events, GC) reads.
 * Events arrive already enveloped (namespace, topic, timestamp) and are handed on unchanged.
 */
export interface EventSink {
  /** Resolves once the event service has taken the event; rejects (as an errdefs class) if it did not. */
  forward(envelope: Envelope, signal?: AbortSignal): Promise<void>;
}

const FORWARD_TIMEOUT_MS = 5_000;

/** The gateway's `containerd.services.events.v1.Events/Forward`. */
export function gatewayEventSink(channel: H2Channel): EventSink {
  const events = clientOf(Events, channel);
  return {
    async forward(envelope, signal) {
      const timeout = AbortSignal.timeout(FORWARD_TIMEOUT_MS);
      await events.forward({ envelope }, {
        metadata: Metadata({ [NAMESPACE_KEY]: envelope.namespace }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    },
  };
}

/**
 * An envelope for an event this process publishes itself. The type URL is the message's full name with no
 * prefix, as containerd's typeurl writes it and `ctr events` looks it up.
 */
export function envelopeOf<D extends DescMessage>(namespace: string, topic: string, schema: D, event: MessageInitShape<D>): Envelope {
  return create(EnvelopeSchema, {
    timestamp: timestampNow(),
    namespace,
    topic,
    event: create(AnySchema, { typeUrl: schema.typeName, value: toBinary(schema, create(schema, event)) }),
  });
}
