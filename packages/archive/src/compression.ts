import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createGunzip, createGzip, gunzipSync } from 'node:zlib';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { zstdCompressor, zstdDecompressor, zstdTransform } from '@flotilla/native';
import { readAhead } from './read-ahead.js';

/**
 * Layer compression: which one a stream uses (by its magic bytes, as containerd decides), decompressing a
 * stream of chunks, and compressing into a sink. gzip runs in Node's zlib, zstd in the native addon; both
 * on the thread pool, so the main thread only moves chunks.
 */
export type Compression = 'gzip' | 'zstd' | 'none';

const GZIP_MAGIC = [0x1f, 0x8b, 0x08];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** Bytes detection looks at; fewer only when the stream is that short. */
export const DETECT_BYTES = 8;

/** Output chunk size for zlib: big chunks mean few round trips to the thread pool. */
const ZLIB_CHUNK = 256 * 1024;

/** Decompressed chunks kept ready ahead of the consumer, so decompression overlaps with extraction. */
const READ_AHEAD = 8;

/**
 * A gzip stream that arrives whole in one chunk up to this size is inflated in one synchronous call, up to
 * WHOLE_OUTPUT_LIMIT bytes of output (past that, as a stream after all).
 */
const WHOLE_INPUT_LIMIT = 64 * 1024;
const WHOLE_OUTPUT_LIMIT = 16 << 20;

function startsWith(head: Uint8Array, magic: readonly number[]): boolean {
  return head.length >= magic.length && magic.every((b, i) => head[i] === b);
}

/** gzip or zstd by magic number (a zstd stream may start with a skippable frame), else 'none'. */
export function detectCompression(head: Uint8Array): Compression {
  if (startsWith(head, GZIP_MAGIC)) return 'gzip';
  if (startsWith(head, ZSTD_MAGIC)) return 'zstd';
  // Skippable frames: magic 0x184D2A50 to 0x184D2A5F, little-endian.
  if (head.length >= 8 && (head[0]! & 0xf0) === 0x50 && head[1] === 0x2a && head[2] === 0x4d && head[3] === 0x18) return 'zstd';
  return 'none';
}

export interface DecompressOptions {
  /** Told which compression the stream turned out to use, before the first output. */
  onDetect?(compression: Compression): void;
}

/**
 * The decompressed bytes of `source`, whatever it is compressed with (or not). An empty source is an empty
 * uncompressed stream, as containerd treats it. Corrupt or truncated input fails as InvalidArgument.
 */
export async function* decompress(source: AsyncIterable<Uint8Array>, opts: DecompressOptions = {}): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  let done = false;
  while (headBytes < DETECT_BYTES) {
    const r = await it.next();
    if (r.done === true) {
      done = true;
      break;
    }
    const b = toBuffer(r.value);
    head.push(b);
    headBytes += b.length;
  }
  // Joined only when detection needed more than one chunk: the first chunk is usually a whole read of the
  // blob (up to a MiB), and copying it costs as much as decompressing it.
  const first = head.length === 1 ? head[0]! : Buffer.concat(head, headBytes);
  const compression = detectCompression(first);
  opts.onDetect?.(compression);
  // Small layers come whole (blob-files.ts reads them in one piece): see whether this is all there is.
  let peeked: Buffer | undefined;
  if (compression === 'gzip' && !done && first.length <= WHOLE_INPUT_LIMIT) {
    const r = await it.next();
    if (r.done === true) done = true;
    else peeked = toBuffer(r.value);
  }
  if (compression === 'gzip' && done) {
    const whole = inflateWhole(first);
    if (whole !== undefined) {
      if (whole.length > 0) yield whole;
      return;
    }
  }
  const rest = (async function* () {
    if (first.length > 0) yield first;
    if (peeked !== undefined) yield peeked;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done === true) return;
      yield toBuffer(r.value);
    }
  })();

  switch (compression) {
    case 'none':
      yield* rest;
      return;
    case 'gzip':
      yield* readAhead(gunzip(rest), READ_AHEAD);
      return;
    case 'zstd':
      yield* readAhead(unzstd(rest), READ_AHEAD);
      return;
  }
}

function toBuffer(c: Uint8Array): Buffer {
  return Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
}

/**
 * A small gzip layer inflated in one synchronous call: for a layer of a few kilobytes, a stream's
 * thread-pool round trips and plumbing cost more than the inflating. Undefined when the output would pass
 * WHOLE_OUTPUT_LIMIT (a bomb, or just a very compressible layer): that one goes through a stream.
 */
function inflateWhole(input: Buffer): Buffer | undefined {
  try {
    return gunzipSync(input, { maxOutputLength: WHOLE_OUTPUT_LIMIT });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return undefined;
    throw corrupt('gzip', err);
  }
}

async function* gunzip(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const z = createGunzip({ chunkSize: ZLIB_CHUNK });
  const feeding = pipeline(Readable.from(source, { objectMode: false }), z);
  // The pipeline's own failure surfaces through the iteration below; this only keeps it from being
  // reported as unhandled when the consumer stops early.
  feeding.catch(() => {});
  try {
    for await (const chunk of z) yield chunk as Buffer;
    await feeding;
  } catch (err) {
    throw corrupt('gzip', err);
  } finally {
    z.destroy();
  }
}

async function* unzstd(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const stream = zstdDecompressor();
  try {
    for await (const chunk of source) yield* await zstdTransform(stream, chunk, false);
    yield* await zstdTransform(stream, Buffer.alloc(0), true);
  } catch (err) {
    throw corrupt('zstd', err);
  }
}

/** A codec's complaint about its input as InvalidArgument; anything else (the source's own errors) as is. */
function corrupt(what: string, err: unknown): unknown {
  const code = (err as { code?: string }).code;
  if (code === 'ERR_ZSTD' || (typeof code === 'string' && code.startsWith('Z_'))) {
    return new InvalidArgumentError(`${what} layer: ${(err as Error).message}`, { cause: err });
  }
  return err;
}

/** Where compressed (or not) output goes; its promise is awaited before more is produced. */
export type ByteSink = (chunk: Buffer) => Promise<void> | void;

/** A sink that compresses what it is given into `downstream`; end() flushes and finishes the stream. */
export interface CompressingSink {
  write(chunk: Buffer): Promise<void>;
  end(): Promise<void>;
}

export interface CompressOptions {
  /** Codec level; by default gzip 1 and zstd 3, containerd's choices (fast, layers are written often). */
  level?: number;
}

export function compressInto(compression: Compression, downstream: ByteSink, opts: CompressOptions = {}): CompressingSink {
  switch (compression) {
    case 'none':
      return { write: async (chunk) => downstream(chunk), end: async () => {} };
    case 'zstd': {
      const stream = zstdCompressor(opts.level);
      const forward = async (out: Buffer[]) => {
        for (const b of out) await downstream(b);
      };
      return {
        write: async (chunk) => forward(await zstdTransform(stream, chunk, false)),
        end: async () => forward(await zstdTransform(stream, Buffer.alloc(0), true)),
      };
    }
    case 'gzip': {
      const z = createGzip({ level: opts.level ?? zlibConstants.Z_BEST_SPEED, chunkSize: ZLIB_CHUNK });
      // Errors (the compressor's or downstream's) end this loop and surface through write() and end().
      const pump = (async () => {
        for await (const out of z) await downstream(out as Buffer);
      })();
      pump.catch(() => {});
      z.on('error', () => {});
      return {
        async write(chunk) {
          if (z.write(chunk)) return;
          // Full: wait until it drains, or until the pump has failed and never will.
          await Promise.race([new Promise((resolve) => z.once('drain', resolve)), pump]);
        },
        async end() {
          z.end();
          await pump;
        },
      };
    }
  }
}
