import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

/** Where a layer's bytes can be read from: a ContentStore is one. */
export interface BlobSource {
  read(digest: string): AsyncIterable<Uint8Array>;
}

const CHUNK = 1 << 20;

/**
 * Blobs up to this size are read whole with one synchronous call: that is a page-cache copy of
 * microseconds, where the open, read, end-of-file read and close of the streaming path are four
 * thread-pool round trips (tens of microseconds each on an idle machine, milliseconds on a busy one).
 * Small layers, configs and manifests are most of the blobs a pull applies.
 */
const SMALL_BLOB = 64 * 1024;

/**
 * A committed blob read straight from a content store's directory on this host (containerd's
 * content/local layout, which the content process keeps: `<dir>/blobs/<algorithm>/<hex>`), or from
 * `fallback` when it is not there. This is what containerd's differ does with its own store, and it
 * spares every layer byte the trip through two processes' gRPC stacks, which costs more CPU than
 * decompressing it. Safe because blobs are immutable and named by their digest: a file there has exactly
 * those bytes, and one deleted while it is read stays readable through the open descriptor. The caller
 * has checked with the content service that the blob exists and that its namespace may see it.
 *
 * `size`, the blob's size as the content store reports it, only sizes the reads: the file is read to
 * its end whatever it says.
 */
export async function* readBlobFile(dir: string, digest: string, fallback: BlobSource, size?: number): AsyncGenerator<Uint8Array> {
  const colon = digest.indexOf(':');
  const path = join(dir, 'blobs', digest.slice(0, colon), digest.slice(colon + 1));
  if (size !== undefined && size <= SMALL_BLOB) {
    let whole: Buffer | undefined;
    try {
      whole = readFileSync(path);
    } catch (err) {
      if (!absent(err)) throw err;
    }
    if (whole === undefined) yield* fallback.read(digest);
    else if (whole.length > 0) yield whole;
    return;
  }
  const fh = await open(path, 'r').catch((err: unknown) => {
    if (absent(err)) return undefined;
    throw err;
  });
  if (fh === undefined) {
    yield* fallback.read(digest);
    return;
  }
  try {
    let total = 0;
    for (;;) {
      // A fresh buffer each time: the consumer keeps views into what it is given. Sized to what is left
      // when the size is known; one byte then finds the end (and past a size that was wrong, whole chunks).
      const left = size !== undefined ? size - total : CHUNK;
      const want = left > 0 ? Math.min(CHUNK, left) : left === 0 ? 1 : CHUNK;
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(buf, 0, want, null);
      if (bytesRead === 0) return;
      total += bytesRead;
      yield bytesRead === want ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

function absent(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
