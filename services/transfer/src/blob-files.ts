import { open } from 'node:fs/promises';
import { join } from 'node:path';

/** Where a layer's bytes can be read from: a ContentStore is one. */
export interface BlobSource {
  read(digest: string): AsyncIterable<Uint8Array>;
}

const CHUNK = 1 << 20;

/**
 * A committed blob read straight from a content store's directory on this host (containerd's
 * content/local layout, which the content process keeps: `<dir>/blobs/<algorithm>/<hex>`), or from
 * `fallback` when it is not there. This is what containerd's differ does with its own store, and it
 * spares every layer byte the trip through two processes' gRPC stacks, which costs more CPU than
 * decompressing it. Safe because blobs are immutable and named by their digest: a file there has exactly
 * those bytes, and one deleted while it is read stays readable through the open descriptor. The caller
 * has checked with the content service that the blob exists and that its namespace may see it.
 */
export async function* readBlobFile(dir: string, digest: string, fallback: BlobSource): AsyncGenerator<Uint8Array> {
  const colon = digest.indexOf(':');
  const fh = await open(join(dir, 'blobs', digest.slice(0, colon), digest.slice(colon + 1)), 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
    throw err;
  });
  if (fh === undefined) {
    yield* fallback.read(digest);
    return;
  }
  try {
    for (;;) {
      // A fresh buffer each time: the consumer keeps views into what it is given.
      const buf = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) return;
      yield bytesRead === CHUNK ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}
