import { closeSync, fdatasync as fdatasyncCb, fdatasyncSync, fstatSync, openSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Db } from './db.js';

const fdatasyncAsync = promisify(fdatasyncCb);

export interface Durability {
  /**
   * Undefined when every change committed so far is already on disk; else a promise that settles once it
   * is. Callers that answer a client await it first (RpcServerOptions.beforeAnswer).
   */
  settle(): Promise<void> | undefined;
  /**
   * Run `fn`, a transaction whose changes no answer needs to wait for: they reach the disk with the next
   * sync anything else needs (or the background flush), and may be lost to a power loss before that. For
   * bookkeeping that holds nothing a client was promised, such as an ingest's record (its bytes are not
   * synced before commit either). Changes already pending stay pending.
   */
  unsynced<T>(fn: () => T): T;
  /** Flush what is pending, stop the background flush and release the WAL; before the database closes. */
  close(): Promise<void>;
}

/**
 * The WAL is grown to this size with zeros when the gateway opens it: about what it reaches before SQLite's
 * automatic checkpoint (1000 pages of 4 KiB) starts it over from the top.
 */
export const WAL_PREALLOCATED_BYTES = 4 << 20;

export interface DurabilityOptions {
  /** Flush changes nobody waited for (background GC) at least this often, in ms. Default 1000. */
  readonly idleFlushMs?: number;
  /** Bytes of WAL written ahead as zeros (WAL_PREALLOCATED_BYTES); 0 leaves it as SQLite made it. */
  readonly preallocateBytes?: number;
  /** fdatasync(2) on the thread pool; replaceable for tests. */
  readonly fdatasync?: (fd: number) => Promise<void>;
}

/**
 * Group commit for the gateway's SQLite file, kept off the event loop.
 *
 * better-sqlite3 is synchronous, so with `synchronous = FULL` every commit's fsync stalled every call in
 * flight through the gateway, several milliseconds each while other processes write (an fsync waits for
 * the filesystem journal, which holds their data too). The database runs in WAL mode with
 * `synchronous = NORMAL` instead: a commit appends to the WAL without syncing it, which is crash-safe for
 * the process but not for the machine. The missing sync is this: before an answer leaves, fdatasync the
 * WAL on the thread pool if anything was committed since the last sync. The WAL is the only file a commit
 * writes in that mode (checkpoints sync on their own), so the guarantee is FULL's (a change a client heard
 * of survives a power loss) while the event loop keeps serving, and concurrent answers share one sync.
 *
 * "Committed since the last sync" is SQLite's total_changes() for this connection, which counts every row
 * inserted, updated or deleted.
 *
 * A new WAL grows with every commit, and an fdatasync of a file that grew also commits the filesystem's
 * journal for its new size: on ext4 that made the median sync 1.1 ms and one in ten over 4 ms. So the WAL
 * is grown once, with zeros, when it is opened: SQLite writes each frame at the offset its own index
 * names, overwriting them, and a sync then flushes data alone. SQLite leaves a WAL longer than what it
 * holds, too: a checkpoint starts it over from the top without truncating it; recovery stops at the first
 * frame whose checksum does not follow, which zeros never do; and the file is deleted at a clean close.
 */
export function createDurability(db: Db, dbPath: string, opts: DurabilityOptions = {}): Durability {
  const sync = opts.fdatasync ?? fdatasyncAsync;
  const changes = db.prepare('SELECT total_changes()').pluck();
  // The WAL file exists from the moment the database entered WAL mode under exclusive locking.
  const walFd = openSync(`${dbPath}-wal`, 'r+');
  preallocate(walFd, opts.preallocateBytes ?? WAL_PREALLOCATED_BYTES);
  const count = () => changes.get() as number;
  let synced = count();
  /** Changes made through unsynced() that no sync has covered yet: the background flush still takes them. */
  let lazy = false;
  let running: Promise<void> | undefined;

  /** One fdatasync covering everything committed when it started; later commits wait for the next. */
  function flush(): Promise<void> {
    running ??= (async () => {
      const upTo = count();
      lazy = false;
      try {
        await sync(walFd);
        if (upTo > synced) synced = upTo;
      } finally {
        running = undefined;
      }
    })();
    return running;
  }

  async function settleFrom(target: number): Promise<void> {
    while (synced < target) {
      // A sync already running may have started before our commit: wait it out, then start another.
      await flush();
    }
  }

  const timer = setInterval(() => {
    if (count() > synced || lazy) flush().catch(() => {});
  }, opts.idleFlushMs ?? 1000);
  timer.unref();

  return {
    unsynced(fn) {
      const before = count();
      const result = fn();
      // Counted as synced only when nothing before them is waiting: a sync is a prefix of the WAL.
      const after = count();
      if (after > before && synced === before) {
        synced = after;
        lazy = true;
      }
      return result;
    },
    settle() {
      const target = count();
      return target > synced ? settleFrom(target) : undefined;
    },
    async close() {
      clearInterval(timer);
      try {
        if (lazy) await flush();
        await settleFrom(count());
      } finally {
        closeSync(walFd);
      }
    },
  };
}

/** Grow the file to `bytes` with written zeros (not fallocate: unwritten extents cost a journal commit too). */
function preallocate(fd: number, bytes: number): void {
  const size = fstatSync(fd).size;
  if (size >= bytes) return;
  const zeros = Buffer.alloc(Math.min(bytes - size, 1 << 20));
  for (let at = size; at < bytes; at += zeros.length) writeSync(fd, zeros, 0, Math.min(zeros.length, bytes - at), at);
  fdatasyncSync(fd);
}
