/**
 * Iterates `source` while keeping up to `depth` further items requested: the producer (a decompressor
 * working on the thread pool) runs ahead of the consumer instead of waiting to be asked for each item.
 * An async generator serves queued next() calls one after another, so the order is kept.
 */
export async function* readAhead<T>(source: AsyncIterable<T>, depth: number): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  const queue: Promise<IteratorResult<T>>[] = [];
  let finished = false;
  try {
    for (;;) {
      while (!finished && queue.length < depth) {
        const p = it.next();
        // Settled later by the loop below; if the consumer leaves first, a failure is nobody's to report.
        p.catch(() => {});
        queue.push(p);
      }
      const r = await queue.shift()!;
      if (r.done === true) {
        finished = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (!finished) await it.return?.(undefined);
  }
}
