/**
 * A push-driven async iterable with one consumer: values pushed before the consumer asks wait in order,
 * a consumer that asks first waits for the next push. Feeds a streaming call's requests from code that
 * produces them one call at a time (the proxy writer).
 */
export interface AsyncQueue<T> extends AsyncIterable<T> {
  push(value: T): void;
  /** No more values: the consumer finishes after draining what is queued. */
  end(): void;
}

export function createAsyncQueue<T>(): AsyncQueue<T> {
  const buffered: T[] = [];
  let ended = false;
  let waiting: ((r: IteratorResult<T>) => void) | undefined;
  const iterator: AsyncIterator<T> = {
    next() {
      if (buffered.length > 0) return Promise.resolve({ value: buffered.shift()!, done: false });
      if (ended) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => { waiting = resolve; });
    },
    return() {
      ended = true;
      buffered.length = 0;
      return Promise.resolve({ value: undefined, done: true });
    },
  };
  return {
    push(value) {
      if (ended) throw new Error('push after end');
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w({ value, done: false });
      } else {
        buffered.push(value);
      }
    },
    end() {
      ended = true;
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w({ value: undefined, done: true });
      }
    },
    [Symbol.asyncIterator]: () => iterator,
  };
}
