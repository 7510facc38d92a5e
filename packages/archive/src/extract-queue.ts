import { closeExtractor, extractBatch, extractor, type ExtractOp, type NativeError } from '@flotilla/native';

/**
 * Gathers extraction ops into batches for the native extractor and keeps one batch running while the next
 * is gathered: the thread pool writes files while the main thread parses the next ones. Ops run in the
 * order they were pushed. A failed batch fails the next push or flush with the native error, its message
 * prefixed with the label of the op that failed.
 */
export interface ExtractQueue {
  /**
   * Adds an op counting `bytes` of data; returns a promise only when the caller must wait (the previous
   * batch is still running and this one is full), else undefined, so the common case costs no await.
   */
  push(op: ExtractOp, label: string, bytes?: number): Promise<void> | undefined;
  /** Runs what is gathered and waits for every batch to finish. */
  flush(): Promise<void>;
  /** Releases the root and any open file (after a failure or when done), once no batch runs. */
  close(): Promise<void>;
}

export interface ExtractQueueOptions {
  /** A batch is sent once it holds this many ops or this many bytes of file data. */
  readonly maxOps?: number;
  readonly maxBytes?: number;
}

const DEFAULT_MAX_OPS = 512;
const DEFAULT_MAX_BYTES = 8 << 20;

export function createExtractQueue(root: string, opts: ExtractQueueOptions = {}): ExtractQueue {
  const maxOps = opts.maxOps ?? DEFAULT_MAX_OPS;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const ex = extractor(root);
  let ops: ExtractOp[] = [];
  let labels: string[] = [];
  let bytes = 0;
  let running: Promise<void> | undefined;

  function start(): void {
    const batch = ops;
    const names = labels;
    ops = [];
    labels = [];
    bytes = 0;
    running = extractBatch(ex, batch).catch((err: NativeError) => {
      const label = err.index !== undefined ? names[err.index] : undefined;
      if (label !== undefined) err.message = `${label}: ${err.message}`;
      throw err;
    });
    // Awaited by the next push or flush; until then a failure must not count as unhandled.
    running.catch(() => {});
  }

  async function startAfterRunning(): Promise<void> {
    await running;
    start();
  }

  return {
    push(op, label, n = 0) {
      ops.push(op);
      labels.push(label);
      bytes += n;
      if (ops.length < maxOps && bytes < maxBytes) return undefined;
      if (running === undefined) {
        start();
        return undefined;
      }
      return startAfterRunning();
    },
    async flush() {
      await running;
      if (ops.length > 0) {
        start();
        await running;
      }
      running = undefined;
    },
    async close() {
      await running?.catch(() => {});
      closeExtractor(ex);
    },
  };
}
