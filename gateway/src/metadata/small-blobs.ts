import type { ContentStore, ReadOptions } from '@flotilla/service-content';

/** Blobs up to this size are kept: manifests, indexes and image configs, not layers. */
export const SMALL_BLOB_BYTES = 64 << 10;
/** What the cache may hold in all, least recently read dropped first. */
const DEFAULT_CAPACITY_BYTES = 4 << 20;

/**
 * The small blobs the gateway read last, in memory. Every `ctr run` reads the image's index, manifest and
 * config again, each a relayed Read to the content process for a few hundred bytes; served from here they
 * cost no hop. Blobs are immutable and named by their digest, so an entry is never stale: nothing needs
 * invalidating when a blob is deleted, because a namespace reads only what its records hold (the caller
 * checks that first) and the same digest written again is the same bytes.
 */
export interface SmallBlobCache {
  /**
   * Read `digest`, of `size` bytes (from the caller's record), as `backend.read` would. Only whole small
   * blobs are cached; ranges are cut from them. Anything else, and any range that starts at or past the end,
   * goes to the backend as it is, so edge cases answer exactly as the backend does.
   */
  read(backend: ContentStore, digest: string, size: number, opts?: ReadOptions): AsyncIterable<Uint8Array>;
  /**
   * Keep `bytes`, the whole of blob `digest`, just committed through the gateway: a client reads back the
   * manifest it has fetched before it fetches anything the manifest names, and that read no longer waits
   * for a hop. Bigger blobs are ignored.
   */
  remember(digest: string, bytes: Uint8Array): void;
}

export function createSmallBlobCache(capacityBytes = DEFAULT_CAPACITY_BYTES): SmallBlobCache {
  // A Map iterates in insertion order: re-inserting on each hit keeps the least recent first.
  const entries = new Map<string, Uint8Array>();
  let held = 0;

  const remember = (digest: string, bytes: Uint8Array) => {
    entries.set(digest, bytes);
    held += bytes.length;
    for (const [d, b] of entries) {
      if (held <= capacityBytes) break;
      entries.delete(d);
      held -= b.length;
    }
  };

  const load = async (backend: ContentStore, digest: string, size: number): Promise<Uint8Array | undefined> => {
    const chunks: Uint8Array[] = [];
    let length = 0;
    for await (const c of backend.read(digest)) {
      chunks.push(c);
      length += c.length;
      if (length > size) return undefined;
    }
    // A blob that is not the size its record says is not cached; the caller reads through.
    if (length !== size) return undefined;
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
  };

  return {
    remember(digest, bytes) {
      if (bytes.length === 0 || bytes.length > SMALL_BLOB_BYTES || entries.has(digest)) return;
      remember(digest, bytes);
    },
    async *read(backend, digest, size, opts) {
      const offset = opts?.offset ?? 0;
      if (size > SMALL_BLOB_BYTES || size === 0 || offset < 0 || offset >= size) {
        yield* backend.read(digest, opts);
        return;
      }
      let bytes = entries.get(digest);
      if (bytes !== undefined) {
        entries.delete(digest);
        entries.set(digest, bytes);
      } else {
        bytes = await load(backend, digest, size);
        if (bytes === undefined) {
          yield* backend.read(digest, opts);
          return;
        }
        remember(digest, bytes);
      }
      const want = opts?.size ?? 0;
      const end = want > 0 ? Math.min(size, offset + want) : size;
      // A copy: the caller may hand the chunk on to code that keeps or transfers it.
      yield Uint8Array.prototype.slice.call(bytes, offset, end);
    },
  };
}
