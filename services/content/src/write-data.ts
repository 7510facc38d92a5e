import type { WriteData } from './store.js';

/** How many bytes a write carries. */
export function writeDataLength(data: WriteData): number {
  if (!Array.isArray(data)) return (data as Uint8Array).length;
  let n = 0;
  for (const piece of data as readonly Uint8Array[]) n += piece.length;
  return n;
}

/** The write's bytes as pieces, in order (one buffer is one piece). */
export function writeDataPieces(data: WriteData): readonly Uint8Array[] {
  return Array.isArray(data) ? (data as readonly Uint8Array[]) : [data as Uint8Array];
}

/** Copy the write's bytes into `target` at `pos`; returns the position after them. */
export function copyWriteData(data: WriteData, target: Uint8Array, pos: number): number {
  for (const piece of writeDataPieces(data)) {
    target.set(piece, pos);
    pos += piece.length;
  }
  return pos;
}

/** What is left of `pieces` once their first `n` bytes are gone (after a short writev). */
export function dropLeadingBytes(pieces: readonly Uint8Array[], n: number): readonly Uint8Array[] {
  let i = 0;
  while (i < pieces.length && n >= pieces[i]!.length) n -= pieces[i++]!.length;
  if (i === pieces.length) return [];
  const rest = pieces.slice(i);
  if (n > 0) rest[0] = rest[0]!.subarray(n);
  return rest;
}
