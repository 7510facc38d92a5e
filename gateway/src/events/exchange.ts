import { create, toBinary, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { AnySchema, timestampNow } from '@bufbuild/protobuf/wkt';
import { EnvelopeSchema, type Envelope } from '@flotilla/proto/containerd/types/event_pb';
import { ResourceExhaustedError } from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';
import { compileEnvelopeFilter } from './envelope-filter.js';

/** How far a subscriber may fall behind before it is dropped, unless it asks for another bound. */
export const DEFAULT_MAX_QUEUE = 4096;

export interface SubscribeOptions {
  /** containerd filters over `topic`, `namespace` and `event.<field>`; an event passes if any matches. */
  filters?: readonly string[];
  /** Events held for this subscriber before it is dropped. */
  maxQueue?: number;
}

/**
 * The gateway's event bus: every service publishes what changed (topic `/namespaces/create`,
 * `/images/delete`, ...) with containerd's payload types, plugin processes forward theirs, and subscribers
 * (the events service, tests) see them in the order they were published.
 *
 * A publisher never waits for a subscriber. Each subscriber has its own queue, filled at publication and
 * drained as it reads; events its filters refuse are never queued. containerd's queues are unbounded,
 * so one client that stops reading grows its daemon without limit; here a subscriber more than
 * `maxQueue` events behind is dropped instead: its iteration fails with ResourceExhausted (the events
 * service ends the stream with that status) after it has read what was queued, so a client learns it
 * missed events rather than silently seeing fewer.
 */
export interface Exchange {
  publish<D extends DescMessage>(namespace: string, topic: string, schema: D, event: MessageInitShape<D>): void;
  /** Deliver an envelope made elsewhere (a client's Publish, a shim's event a plugin process forwards) as it is. */
  forward(envelope: Envelope): void;
  /**
   * The events published from this call on, until `signal` aborts or the iteration is left. Filters are
   * parsed at once: a malformed one throws InvalidArgument before anything is subscribed.
   */
  subscribe(signal: AbortSignal, opts?: SubscribeOptions): AsyncIterableIterator<Envelope>;
  /**
   * Deliver nothing of `namespace` until the returned function is called: the gateway's own warm-up
   * (warm-up.ts) works in a namespace of its own, and what it does there is nobody's news.
   */
  hide(namespace: string): () => void;
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
  const hidden = new Set<string>();
  const deliver = (e: Envelope) => {
    for (const s of subscribers) s(e);
  };
  return {
    publish(namespace, topic, schema, event) {
      if (hidden.has(namespace)) return;
      deliver(create(EnvelopeSchema, { timestamp: timestampNow(), namespace, topic, event: packAny(schema, event) }));
    },
    hide(namespace) {
      hidden.add(namespace);
      return () => { hidden.delete(namespace); };
    },
    forward(e) {
      if (!hidden.has(e.namespace)) deliver(e);
    },
    subscribe(signal, opts = {}) {
      const maxQueue = opts.maxQueue ?? DEFAULT_MAX_QUEUE;
      const matches = opts.filters && opts.filters.length > 0 ? compileEnvelopeFilter(opts.filters) : () => true;
      const queue: Envelope[] = [];
      let wake: (() => void) | undefined;
      let dropped = false;
      let closed = false;
      const sink = (e: Envelope) => {
        if (!matches(e)) return;
        if (queue.length >= maxQueue) {
          dropped = true;
          subscribers.delete(sink);
          log.warn({ maxQueue }, 'event subscriber too slow; dropped');
        } else queue.push(e);
        wake?.();
      };
      const stop = () => { subscribers.delete(sink); wake?.(); };
      // Subscribed now, not when iteration starts: what is published after this call is seen.
      if (!signal.aborted) {
        subscribers.add(sink);
        signal.addEventListener('abort', stop, { once: true });
      }
      const iterator: AsyncIterableIterator<Envelope> = {
        async next(): Promise<IteratorResult<Envelope>> {
          for (;;) {
            const e = queue.shift();
            if (e) return { value: e, done: false };
            if (signal.aborted || closed) return { value: undefined, done: true };
            if (dropped) throw new ResourceExhaustedError(`event subscriber fell more than ${maxQueue} events behind and was dropped`);
            await new Promise<void>((resolve) => { wake = resolve; });
            wake = undefined;
          }
        },
        async return(): Promise<IteratorResult<Envelope>> {
          closed = true;
          stop();
          signal.removeEventListener('abort', stop);
          return { value: undefined, done: true };
        },
        [Symbol.asyncIterator]() {
          return iterator;
        },
      };
      return iterator;
    },
  };
}
