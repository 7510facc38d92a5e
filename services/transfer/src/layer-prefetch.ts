import { mkdirSync, watch, type FSWatcher } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '@flotilla/log';

/** A compressed layer blob inflated ahead of its Apply. */
export interface PrefetchedLayer {
  /** The uncompressed tar, in the pieces it was inflated in. */
  readonly chunks: readonly Buffer[];
  /** Bytes in `chunks`. */
  readonly size: number;
}

/**
 * Inflates gzip layer blobs as the content store commits them, so that their Apply only extracts.
 *
 * A client pulling an image (ctr, the CRI) fetches every blob first and unpacks the layers afterwards,
 * one at a time, each Apply inflating its layer while it writes it: on a layer of a few MiB, inflating is
 * half the Apply. The blobs reach the content store well before then (between the last blob's commit and
 * the first Apply, ctr alone waits for its progress display to tick), so the differ watches the store's
 * blob directory and inflates each new gzip blob ahead, keeping the tar in memory for a while. It is what
 * containerd 2's transfer service gains by unpacking layers as they arrive, without changing what clients
 * call.
 *
 * The work is speculative, so it runs on a worker thread under SCHED_IDLE (native setThreadIdle): only on
 * CPU nothing else wants, never slowing a fetch still under way. For the same reason an Apply waits for a
 * layer still being inflated only briefly (the thread may be starved), then inflates it itself.
 *
 * Bounded: only blobs of MIN..MAX compressed bytes, none whose tar passes a per-layer limit, no more than
 * a total held at once, each kept for a limited time. What it holds is derived from the committed blob,
 * whose bytes the content store verified against their digest, so an Apply of it extracts exactly what
 * inflating the blob then would; the Apply still hashes the tar to check the diff ID. zstd layers are
 * left to their Apply.
 */
export interface LayerPrefetcher {
  /**
   * The inflated tar of blob `digest`, handed over once (later calls find nothing). Undefined when there
   * is none: never seen, not worth it, failed, dropped, or still not inflated after a short wait.
   */
  take(digest: string): Promise<PrefetchedLayer | undefined>;
  /** Start inflating blob `digest` from the store directory, unless it is already held or under way. */
  prefetch(digest: string): void;
  /** Bytes of tar held now. */
  readonly heldBytes: number;
  /** Stop watching, stop the worker and drop everything held. */
  close(): void;
}

export interface LayerPrefetchOptions {
  /** The content store's directory: blobs are `<dir>/blobs/sha256/<hex>` (containerd's local layout). */
  readonly dir: string;
  readonly log: Logger;
  /** Smaller blobs are left alone: a small layer is inflated in one call at Apply anyway. Default 64 KiB. */
  readonly minBlobBytes?: number;
  /** Larger blobs are left alone. Default 32 MiB. */
  readonly maxBlobBytes?: number;
  /** A layer whose tar is bigger is given up. Default 64 MiB. */
  readonly maxLayerBytes?: number;
  /** Tar bytes held at once, all layers together. Default 128 MiB. */
  readonly maxTotalBytes?: number;
  /** How long an Apply waits for its layer still being inflated. Default 25 ms. */
  readonly waitMs?: number;
  /** How long an inflated layer is kept for its Apply. Default 60 s. */
  readonly keepMs?: number;
  /** Watch the blob directory for new blobs (default); false only inflates what prefetch() is given. */
  readonly watch?: boolean;
  /** Where the worker loads @flotilla/native from (a file URL); tests point it elsewhere. */
  readonly nativeUrl?: string;
}

const BLOB_NAME = /^[0-9a-f]{64}$/;

/**
 * The worker: one job at a time, each a whole blob read and inflated synchronously (on its own thread,
 * under SCHED_IDLE). Answers `{ digest, tar }` (the buffer transferred, not copied), `{ digest }` alone for
 * a blob out of bounds or not gzip, `{ digest, error }` for one it could not read or inflate. A blob is
 * named by its digest, so any answer about a digest serves whoever waits for it.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { openSync, fstatSync, readSync, closeSync } = require('node:fs');
const { gunzipSync } = require('node:zlib');
import(workerData.native).then((native) => {
  try { native.setThreadIdle(); } catch (err) { parentPort.postMessage({ warning: String(err && err.message || err) }); }
  parentPort.on('message', ({ digest, path, minBytes, maxBytes, maxOut }) => {
    let fd;
    try {
      fd = openSync(path, 'r');
      const size = fstatSync(fd).size;
      if (size < minBytes || size > maxBytes) return parentPort.postMessage({ digest });
      const blob = Buffer.allocUnsafeSlow(size);
      let got = 0;
      while (got < size) { const n = readSync(fd, blob, got, size - got, got); if (n === 0) break; got += n; }
      if (got < 3 || blob[0] !== 0x1f || blob[1] !== 0x8b || blob[2] !== 0x08) return parentPort.postMessage({ digest });
      // Inflated into one buffer of the size the gzip trailer gives (ISIZE, the last member's size mod 2^32)
      // rather than zlib's 16 KiB chunks joined at the end: that join was a second copy of every byte into
      // fresh memory, half the worker's time and most of its page faults. A trailer that does not tell the
      // whole size (several members) still inflates right, in more chunks.
      const isize = got >= 8 ? blob.readUInt32LE(got - 4) : 0;
      const chunkSize = Math.min(Math.max(isize, 64 << 10), maxOut);
      const tar = gunzipSync(blob.subarray(0, got), { maxOutputLength: maxOut, chunkSize });
      const whole = tar.byteOffset === 0 && tar.byteLength === tar.buffer.byteLength;
      parentPort.postMessage({ digest, tar }, whole ? [tar.buffer] : []);
    } catch (err) {
      parentPort.postMessage({ digest, error: String(err && (err.code || err.message) || err) });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  });
}, (err) => parentPort.postMessage({ fatal: String(err) }));
`;

interface Entry {
  layer?: PrefetchedLayer;
  /** Settled when the worker has answered. */
  readonly answered: Promise<void>;
  settle(): void;
  timer?: NodeJS.Timeout;
}

interface Answer {
  digest?: string;
  tar?: Uint8Array;
  error?: string;
  warning?: string;
  fatal?: string;
}

export function createLayerPrefetcher(opts: LayerPrefetchOptions): LayerPrefetcher {
  const minBlob = opts.minBlobBytes ?? 64 << 10;
  const maxBlob = opts.maxBlobBytes ?? 32 << 20;
  const maxLayer = opts.maxLayerBytes ?? 64 << 20;
  const maxTotal = opts.maxTotalBytes ?? 128 << 20;
  const waitMs = opts.waitMs ?? 25;
  const keepMs = opts.keepMs ?? 60_000;
  const blobs = join(opts.dir, 'blobs', 'sha256');
  const entries = new Map<string, Entry>();
  let held = 0;
  let worker: Worker | undefined;
  /** Set when the worker cannot run at all: nothing is inflated ahead from then on. */
  let disabled = false;

  const drop = (digest: string, e: Entry) => {
    if (entries.get(digest) === e) entries.delete(digest);
    if (e.timer !== undefined) clearTimeout(e.timer);
    if (e.layer !== undefined) held -= e.layer.size;
    e.layer = undefined;
  };
  /** Drop the entries `which` picks (all by default) and let whoever waits for them go on without them. */
  const dropAll = (which: (e: Entry) => boolean = () => true) => {
    for (const [digest, e] of [...entries]) {
      if (!which(e)) continue;
      drop(digest, e);
      e.settle();
    }
  };

  const onAnswer = (a: Answer) => {
    if (a.warning !== undefined) {
      opts.log.warn({ reason: a.warning }, 'layers are inflated ahead at normal priority');
      return;
    }
    if (a.fatal !== undefined) {
      opts.log.warn({ reason: a.fatal }, 'layers are not inflated ahead: the worker could not start');
      disabled = true;
      dropAll();
      void worker?.terminate();
      worker = undefined;
      return;
    }
    const digest = a.digest;
    const e = digest !== undefined ? entries.get(digest) : undefined;
    // Taken or dropped meanwhile, or already answered (asked for twice).
    if (digest === undefined || e === undefined || e.layer !== undefined) return;
    if (a.tar !== undefined && held + a.tar.byteLength <= maxTotal) {
      const tar = Buffer.from(a.tar.buffer, a.tar.byteOffset, a.tar.byteLength);
      e.layer = { chunks: [tar], size: tar.length };
      held += tar.length;
      e.timer = setTimeout(() => drop(digest, e), keepMs);
      e.timer.unref();
      opts.log.debug({ digest, size: tar.length }, 'layer inflated ahead of its apply');
    } else {
      if (a.error !== undefined) opts.log.debug({ digest, err: a.error }, 'could not inflate layer ahead');
      entries.delete(digest);
    }
    e.settle();
  };

  const workerFor = (): Worker => {
    if (worker !== undefined) return worker;
    const native = opts.nativeUrl ?? pathToFileURL(createRequire(import.meta.url).resolve('@flotilla/native')).href;
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { native } });
    w.unref();
    w.on('message', onAnswer);
    w.on('error', (err) => {
      opts.log.warn({ err }, 'the layer inflating worker failed');
      if (worker === w) worker = undefined;
      // Nothing under way will be answered: let whoever waits go on without it.
      dropAll((e) => e.layer === undefined);
    });
    worker = w;
    return w;
  };

  function prefetch(digest: string): void {
    if (disabled || entries.has(digest) || !digest.startsWith('sha256:')) return;
    let settle!: () => void;
    const answered = new Promise<void>((resolve) => { settle = resolve; });
    const e: Entry = { answered, settle };
    entries.set(digest, e);
    workerFor().postMessage({ digest, path: join(blobs, digest.slice('sha256:'.length)), minBytes: minBlob, maxBytes: maxBlob, maxOut: maxLayer });
  }

  let watcher: FSWatcher | undefined;
  if (opts.watch ?? true) {
    // The content process makes this directory at its first commit; made here, it can be watched now.
    mkdirSync(blobs, { recursive: true, mode: 0o755 });
    // A commit links the ingest's data file in under its digest: a 'rename' event for the new name.
    watcher = watch(blobs, { persistent: false }, (event, name) => {
      if (event === 'rename' && typeof name === 'string' && BLOB_NAME.test(name)) prefetch(`sha256:${name}`);
    });
    watcher.on('error', (err) => opts.log.warn({ err, dir: blobs }, 'stopped watching for new layers to inflate'));
    // Started now rather than at the first commit, which is in the middle of a pull.
    workerFor();
  }

  return {
    async take(digest) {
      const e = entries.get(digest);
      if (e === undefined) return undefined;
      if (e.layer === undefined) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([e.answered, new Promise<void>((resolve) => { timer = setTimeout(resolve, waitMs); })]);
        clearTimeout(timer);
      }
      const layer = e.layer;
      drop(digest, e);
      return layer;
    },
    prefetch,
    get heldBytes() {
      return held;
    },
    close() {
      watcher?.close();
      dropAll();
      void worker?.terminate();
      worker = undefined;
    },
  };
}
