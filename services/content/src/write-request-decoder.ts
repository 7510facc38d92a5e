import { fromBinary } from '@bufbuild/protobuf';
import { WriteContentRequestSchema, type WriteContentRequest } from '@flotilla/proto/containerd/services/content/v1/content_pb';
import type { WriteData } from './store.js';

/** A WriteContentRequest whose data may still be in the pieces it arrived in (see decodeWriteRequestParts). */
export type IncomingWriteRequest = Omit<WriteContentRequest, 'data'> & { readonly data: WriteData };

/** The data field's tag: field 6, length-delimited. */
const TAG_DATA = (6 << 3) | 2;
const DATA_FIELD = 6;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** The message is not one this walker takes apart; protobuf-es decodes it whole (and reports what is wrong). */
class Unusual extends Error {}

/** A forward-only reader over a message's pieces, by position in the whole message. */
class Cursor {
  /** Where each piece starts in the message. */
  readonly starts: number[] = [];
  readonly size: number;
  private piece = 0;
  private at = 0;
  pos = 0;

  constructor(readonly pieces: readonly Uint8Array[]) {
    let size = 0;
    for (const p of pieces) {
      this.starts.push(size);
      size += p.length;
    }
    this.size = size;
  }

  byte(): number {
    const pieces = this.pieces;
    while (this.piece < pieces.length && this.at >= pieces[this.piece]!.length) {
      this.piece++;
      this.at = 0;
    }
    if (this.piece >= pieces.length) throw new Unusual('truncated');
    this.pos++;
    return pieces[this.piece]![this.at++]!;
  }

  /** A varint, as a number: only lengths and tags are read as values, so 2^53 is plenty. */
  varint(): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 128;
    }
    throw new Unusual('varint too long');
  }

  skip(n: number): void {
    if (n > this.size - this.pos) throw new Unusual('truncated');
    this.pos += n;
    const pieces = this.pieces;
    while (n > 0) {
      const left = pieces[this.piece]!.length - this.at;
      if (n < left) {
        this.at += n;
        return;
      }
      n -= left;
      this.piece++;
      this.at = 0;
    }
  }

  /** Views of the bytes from `start` to `end` (positions in the message), uncopied. */
  views(start: number, end: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = 0; i < this.pieces.length && start < end; i++) {
      const from = this.starts[i]!;
      const p = this.pieces[i]!;
      if (start >= from + p.length) continue;
      const to = Math.min(end, from + p.length);
      out.push(p.subarray(start - from, to - from));
      start = to;
    }
    return out;
  }
}

/**
 * Decode a WriteContentRequest from the pieces it arrived in (h2-framing's readMessageParts) without
 * copying its data: the data field becomes views of the pieces (one view when it lies within one piece),
 * and every other field (action, ref, total, expected, offset, labels, anything unknown) is copied out,
 * a few bytes, and decoded by protobuf-es, so their meaning is exactly its. As in protobuf-es, the last
 * data field wins. Anything this walk does not expect (groups, a data field that is not
 * length-delimited, a truncated field) is left to protobuf-es over the assembled message, which decodes
 * or rejects it as it always would.
 */
export function decodeWriteRequestParts(pieces: readonly Uint8Array[]): IncomingWriteRequest {
  if (pieces.length === 1) return fromBinary(WriteContentRequestSchema, pieces[0]!);
  const c = new Cursor(pieces);
  // The other fields' bytes, in order, and where the last data field's bytes lie.
  const rest: Uint8Array[] = [];
  let restSize = 0;
  let dataStart = -1;
  let dataEnd = -1;
  try {
    while (c.pos < c.size) {
      const start = c.pos;
      const tag = c.varint();
      const wire = tag & 7;
      if (tag === TAG_DATA) {
        const len = c.varint();
        dataStart = c.pos;
        c.skip(len);
        dataEnd = c.pos;
        continue;
      }
      if (tag >>> 3 === DATA_FIELD) throw new Unusual('data field of another wire type');
      switch (wire) {
        case WIRE_VARINT:
          while (c.byte() >= 0x80) { /* to the varint's last byte */ }
          break;
        case WIRE_I64:
          c.skip(8);
          break;
        case WIRE_LEN:
          c.skip(c.varint());
          break;
        case WIRE_I32:
          c.skip(4);
          break;
        default:
          throw new Unusual(`wire type ${wire}`);
      }
      for (const v of c.views(start, c.pos)) {
        rest.push(v);
        restSize += v.length;
      }
    }
  } catch (err) {
    if (!(err instanceof Unusual)) throw err;
    return fromBinary(WriteContentRequestSchema, Buffer.concat(pieces as Uint8Array[]));
  }
  const req = fromBinary(WriteContentRequestSchema, rest.length === 1 ? rest[0]! : Buffer.concat(rest, restSize));
  if (dataStart < 0) return req;
  const data = c.views(dataStart, dataEnd);
  return Object.assign(req, { data: data.length === 1 ? data[0]! : data.length === 0 ? new Uint8Array(0) : data });
}
