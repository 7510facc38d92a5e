/**
 * An async readers-writer lock. Content commits hold it shared; the collector's sweep of the content
 * process holds it exclusively, so a blob that is committed in the backend but not yet recorded in a
 * namespace is never mistaken for garbage (containerd guards the same window with its store lock).
 * Writers are preferred: a waiting sweep holds back new readers, so collection cannot starve.
 */
export interface RwLock {
  read<T>(fn: () => Promise<T>): Promise<T>;
  write<T>(fn: () => Promise<T>): Promise<T>;
}

export function createRwLock(): RwLock {
  let readers = 0;
  let writing = false;
  const waitingWriters: (() => void)[] = [];
  const waitingReaders: (() => void)[] = [];
  const next = () => {
    if (writing || readers > 0) {
      if (!writing && waitingWriters.length === 0) while (waitingReaders.length) waitingReaders.shift()!();
      return;
    }
    const w = waitingWriters.shift();
    if (w) return w();
    while (waitingReaders.length) waitingReaders.shift()!();
  };
  const acquireRead = () => new Promise<void>((resolve) => {
    const go = () => { readers++; resolve(); };
    if (!writing && waitingWriters.length === 0) go();
    else waitingReaders.push(go);
  });
  const acquireWrite = () => new Promise<void>((resolve) => {
    const go = () => { writing = true; resolve(); };
    if (!writing && readers === 0) go();
    else waitingWriters.push(go);
  });
  return {
    async read(fn) {
      await acquireRead();
      try { return await fn(); } finally { readers--; next(); }
    },
    async write(fn) {
      await acquireWrite();
      try { return await fn(); } finally { writing = false; next(); }
    },
  };
}
