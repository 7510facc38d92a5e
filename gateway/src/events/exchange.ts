import { create, toBinary, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { AnySchema, timestampNow } from '@bufbuild/protobuf/wkt';
import { EnvelopeSchema, type Envelope } from '@flotilla/proto/containerd/types/event_pb';
import type { Logger } from '@flotilla/log';

/**
 * The gateway's event bus: every service publishes what changed (topic `/namespaces/create`,
 * `/images/delete`, ...) with containerd's payload types, and subscribers (the events service, GC) see
 * them in order. Delivery is in-process and never blocks a publisher: a subscriber that falls more than
 * `maxQueue` events behind is dropped, as containerd drops slow event sinks.
 */
export interface Exchange {
  publish<D extends DescMessage>(namespace: string, topic: string, schema: D, event: MessageInitShape<D>): void;
  /** Forward an envelope produced elsewhere (a shim, a plugin process) unchanged. */
  forward(envelope: Envelope): void;
  subscribe(signal: AbortSignal, maxQueue?: number): AsyncIterable<Envelope>;
}

/**
 * containerd's typeurl names an event by its protobuf full name, with no URL prefix, and decoders on the
 * other side (ctr events) look it up by exactly that.
 */
export function packAny<D extends DescMessage>(schema: D, msg: MessageInitShape<D>) {
  return create(AnySchema, { typeUrl: schema.typeName, value: toBinary(schema, create(schema, msg)) });
}

export function createExchange(log: Logger): Exchange {
  const subscribers = new Set<(e: Envelope) => void>();
  const deliver = (e: Envelope) => {
    for (const s of subscribers) s(e);
  };
  return {
    publish(namespace, topic, schema, event) {
      deliver(create(EnvelopeSchema, { timestamp: timestampNow(), namespace, topic, event: packAny(schema, event) }));
    },
    forward: deliver,
    subscribe(signal, maxQueue = 4096) {
      return {
        [Symbol.asyncIterator]() {
          const queue: Envelope[] = [];
          let wake: (() => void) | undefined;
          let dropped = false;
          const sink = (e: Envelope) => {
            if (queue.length >= maxQueue) {
              dropped = true;
              subscribers.delete(sink);
              log.warn({ maxQueue }, 'event subscriber too slow; dropped');
            } else queue.push(e);
            wake?.();
          };
          const stop = () => { subscribers.delete(sink); wake?.(); };
          subscribers.add(sink);
          signal.addEventListener('abort', stop, { once: true });
          return {
            async next(): Promise<IteratorResult<Envelope>> {
              for (;;) {
                const e = queue.shift();
                if (e) return { value: e, done: false };
                if (signal.aborted || dropped) return { value: undefined, done: true };
                await new Promise<void>((resolve) => { wake = resolve; });
                wake = undefined;
              }
            },
            async return(): Promise<IteratorResult<Envelope>> {
              stop();
              signal.removeEventListener('abort', stop);
              return { value: undefined, done: true };
            },
          };
        },
      };
    },
  };
}
