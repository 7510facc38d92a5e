import { setTimeout as sleep } from 'node:timers/promises';
import type { DescMessage, MessageInitShape } from '@bufbuild/protobuf';
import type { Logger } from '@flotilla/log';
import type { Envelope } from '@flotilla/proto/containerd/types/event_pb';
import { envelopeOf, type EventSink } from './event-sink.js';

/**
 * Events this process publishes itself (the exit of a shim that died, or of a task that ended while the
 * runtime was down). They go out one at a time, in order; one the event service refuses is retried a few
 * times, a second more each time, then dropped with a log line, as a shim's own publisher does.
 */
export interface EventPublisher {
  /** Queue an event; resolves true once delivered, false once dropped. */
  publish<D extends DescMessage>(namespace: string, topic: string, schema: D, event: MessageInitShape<D>): Promise<boolean>;
  /** Stop retrying; what is queued is dropped. */
  close(): void;
}

const MAX_ATTEMPTS = 6;

export function eventPublisher(sink: EventSink, log: Logger): EventPublisher {
  let tail: Promise<unknown> = Promise.resolve();
  const stop = new AbortController();
  const deliver = async (e: Envelope): Promise<boolean> => {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS && !stop.signal.aborted; attempt++) {
      try {
        await sink.forward(e, stop.signal);
        return true;
      } catch (err) {
        if (attempt === MAX_ATTEMPTS || stop.signal.aborted) {
          log.error({ err, topic: e.topic, namespace: e.namespace }, 'event dropped after retries');
          return false;
        }
        log.warn({ err, topic: e.topic, attempt }, 'forward event failed; retrying');
        await sleep(attempt * 1000, undefined, { signal: stop.signal }).catch(() => undefined);
      }
    }
    return false;
  };
  return {
    publish(namespace, topic, schema, event) {
      const e = envelopeOf(namespace, topic, schema, event);
      const done = tail.then(() => deliver(e));
      tail = done;
      return done;
    },
    close() {
      stop.abort();
    },
  };
}
