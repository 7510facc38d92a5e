import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { sha256Digest, sha256Hasher, sha256Update } from '@flotilla/native';
import type { DigestAlgorithm } from './digest.js';

/**
 * The running hash of an ingest. sha256, the digest of everything containerd makes, is hashed by the addon
 * on the thread pool, beside the write of the same bytes: node:crypto hashes on the main thread, at about
 * 2.5 ms per MiB, and that bounded how fast the content process could take an ingest. The other
 * algorithms go through node:crypto.
 */
export interface IngestHash {
  /** Hash these bytes, in order; they must stay unchanged until it resolves. One update at a time. */
  update(pieces: readonly Uint8Array[]): Promise<void>;
  /** The hex digest of everything hashed so far (hashing can go on); not while an update runs. */
  hex(): string;
}

export function ingestHash(algorithm: DigestAlgorithm): IngestHash {
  if (algorithm === 'sha256') {
    const h = sha256Hasher();
    return { update: (pieces) => sha256Update(h, pieces), hex: () => sha256Digest(h) };
  }
  const h = createHash(algorithm);
  return {
    update: async (pieces) => {
      for (const p of pieces) h.update(p);
    },
    hex: () => h.copy().digest('hex'),
  };
}

/**
 * A new hash of the file's first `size` bytes (all of it when `size` is undefined), and how many it hashed:
 * an ingest resumed, or truncated to a point other than 0. Streamed, never held whole: an ingest can be
 * gigabytes.
 */
export async function hashFile(algorithm: DigestAlgorithm, path: string, size?: number): Promise<{ hash: IngestHash; hashed: number }> {
  const hash = ingestHash(algorithm);
  let hashed = 0;
  if (size === 0) return { hash, hashed };
  const range = size === undefined ? {} : { start: 0, end: size - 1 };
  for await (const chunk of createReadStream(path, { ...range, highWaterMark: 1 << 20 })) {
    await hash.update([chunk as Buffer]);
    hashed += (chunk as Buffer).length;
  }
  return { hash, hashed };
}
