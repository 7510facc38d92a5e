/**
 * One operation at a time per key (containerd's kmutex around task create, kill and delete): a delete
 * never interleaves with a kill of the same task, while different tasks never wait on each other.
 */
export interface KeyedLock {
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

export function keyedLock(): KeyedLock {
  const tails = new Map<string, Promise<unknown>>();
  return {
    run(key, fn) {
      const prev = tails.get(key) ?? Promise.resolve();
      const result = prev.then(fn, fn);
      const tail = result.catch(() => undefined);
      tails.set(key, tail);
      // Forget the key once nothing queued behind this run, so the map does not grow with every task.
      void tail.then(() => { if (tails.get(key) === tail) tails.delete(key); });
      return result;
    },
  };
}
