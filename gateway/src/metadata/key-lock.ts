/**
 * Mutual exclusion by name: a call holding some names runs alone with respect to every other call holding
 * any of them, and in parallel with the rest. The namespaced snapshotter takes the keys an operation
 * creates, consumes or checks (a commit's key and name, a prepare's key and parent), so that the check it
 * makes in SQLite still holds when it records the backend's answer, while work on unrelated snapshots
 * (one image's layers and another's) goes on side by side.
 */
export interface KeyLock {
  /** Run `fn` once every name in `names` is free; the names stay taken until it settles. */
  with<T>(names: readonly string[], fn: () => Promise<T>): Promise<T>;
}

export function createKeyLock(): KeyLock {
  /** The tail of each name's queue: settles when the last holder that asked for it lets go. */
  const tails = new Map<string, Promise<void>>();
  return {
    async with(names, fn) {
      // One order for everyone, and each name once: two calls can never wait on each other in a circle.
      const wanted = [...new Set(names)].sort();
      let release!: () => void;
      const held = new Promise<void>((resolve) => { release = resolve; });
      const before = wanted.map((name) => {
        const prev = tails.get(name) ?? Promise.resolve();
        const mine = prev.then(() => held);
        tails.set(name, mine);
        // Forget the name once nobody queued after us, so the map only holds names in use.
        void mine.then(() => { if (tails.get(name) === mine) tails.delete(name); });
        return prev;
      });
      await Promise.all(before);
      try {
        return await fn();
      } finally {
        release();
      }
    },
  };
}
