import { create, fromBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { TimestampSchema, type Timestamp } from '@bufbuild/protobuf/wkt';
import { WriteContentResponseSchema, type WriteContentResponse } from '@flotilla/proto/containerd/services/content/v1/content_pb';

/**
 * WriteContentResponse by hand: one is encoded or decoded per Write request on every hop (client, gateway,
 * content process), and protobuf-es's reflective codec took tens of microseconds for each, more than
 * relaying the request's 1 MiB of data. The bytes are protobuf-es's exactly (fields in number order,
 * defaults omitted, a present timestamp written even when empty); anything the decoder does not expect
 * goes to protobuf-es.
 */

const TAG_ACTION = (1 << 3) | 0;
const TAG_STARTED_AT = (2 << 3) | 2;
const TAG_UPDATED_AT = (3 << 3) | 2;
const TAG_OFFSET = (4 << 3) | 0;
const TAG_TOTAL = (5 << 3) | 0;
const TAG_DIGEST = (6 << 3) | 2;
const TAG_SECONDS = (1 << 3) | 0;
const TAG_NANOS = (2 << 3) | 0;

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A varint's bytes: a 64-bit two's complement value, so negatives take ten. */
function varint(out: number[], v: bigint | number): void {
  if (typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER) {
    while (v >= 0x80) {
      out.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(v);
    return;
  }
  let u = BigInt.asUintN(64, BigInt(v));
  while (u >= 0x80n) {
    out.push(Number(u & 0x7fn) | 0x80);
    u >>= 7n;
  }
  out.push(Number(u));
}

function int64(out: number[], v: bigint): void {
  varint(out, v >= 0n && v <= SAFE ? Number(v) : v);
}

function timestamp(out: number[], tag: number, t: Timestamp | undefined): void {
  if (t === undefined) return;
  const body: number[] = [];
  if (t.seconds !== 0n) {
    body.push(TAG_SECONDS);
    int64(body, t.seconds);
  }
  if (t.nanos !== 0) {
    body.push(TAG_NANOS);
    varint(body, t.nanos);
  }
  out.push(tag);
  varint(out, body.length);
  for (const b of body) out.push(b);
}

export function encodeWriteResponse(r: WriteContentResponse): Uint8Array {
  const out: number[] = [];
  if (r.action !== 0) {
    out.push(TAG_ACTION);
    varint(out, r.action);
  }
  timestamp(out, TAG_STARTED_AT, r.startedAt);
  timestamp(out, TAG_UPDATED_AT, r.updatedAt);
  if (r.offset !== 0n) {
    out.push(TAG_OFFSET);
    int64(out, r.offset);
  }
  if (r.total !== 0n) {
    out.push(TAG_TOTAL);
    int64(out, r.total);
  }
  if (r.digest !== '') {
    const digest = Buffer.from(r.digest, 'utf8');
    out.push(TAG_DIGEST);
    varint(out, digest.length);
    const buf = Buffer.allocUnsafe(out.length + digest.length);
    buf.set(out, 0);
    buf.set(digest, out.length);
    return buf;
  }
  return Buffer.from(out);
}

/** The decoder met something it does not handle: protobuf-es decodes (or rejects) the message instead. */
class Unusual extends Error {}

class Reader {
  pos: number;
  constructor(readonly buf: Uint8Array, from: number, readonly end: number) {
    this.pos = from;
  }

  /** A varint as the unsigned 64-bit value of its bytes. */
  varint(): bigint {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Unusual('truncated');
      const b = this.buf[this.pos++]!;
      if (i < 7) {
        n += (b & 0x7f) * scale;
        scale *= 128;
        if (b < 0x80) return BigInt(n);
        continue;
      }
      // Past 49 bits: finish in bigint.
      let big = BigInt(n) + (BigInt(b & 0x7f) << BigInt(7 * i));
      if (b < 0x80) return BigInt.asUintN(64, big);
      for (let j = i + 1; j < 10; j++) {
        if (this.pos >= this.end) throw new Unusual('truncated');
        const c = this.buf[this.pos++]!;
        big += BigInt(c & 0x7f) << BigInt(7 * j);
        if (c < 0x80) return BigInt.asUintN(64, big);
      }
      throw new Unusual('varint too long');
    }
    throw new Unusual('varint too long');
  }

  length(): number {
    const n = this.varint();
    if (n > BigInt(this.end - this.pos)) throw new Unusual('truncated');
    return Number(n);
  }
}

const int32Of = (v: bigint) => Number(BigInt.asIntN(32, v));
const int64Of = (v: bigint) => BigInt.asIntN(64, v);

function readTimestamp(buf: Uint8Array, from: number, end: number): Timestamp {
  const r = new Reader(buf, from, end);
  let seconds = 0n;
  let nanos = 0;
  while (r.pos < end) {
    const tag = Number(r.varint());
    if (tag === TAG_SECONDS) seconds = int64Of(r.varint());
    else if (tag === TAG_NANOS) nanos = int32Of(r.varint());
    else throw new Unusual(`timestamp field ${tag}`);
  }
  return create(TimestampSchema, { seconds, nanos });
}

export function decodeWriteResponse(buf: Uint8Array): WriteContentResponse {
  try {
    const r = new Reader(buf, 0, buf.length);
    const init: MessageInitShape<typeof WriteContentResponseSchema> & { startedAt?: Timestamp; updatedAt?: Timestamp } = {};
    while (r.pos < buf.length) {
      const tag = Number(r.varint());
      switch (tag) {
        case TAG_ACTION: init.action = int32Of(r.varint()); break;
        case TAG_OFFSET: init.offset = int64Of(r.varint()); break;
        case TAG_TOTAL: init.total = int64Of(r.varint()); break;
        case TAG_STARTED_AT:
        case TAG_UPDATED_AT: {
          const len = r.length();
          const t = readTimestamp(buf, r.pos, r.pos + len);
          r.pos += len;
          // A repeated message field merges in protobuf; ours are sent once, and merging is left to protobuf-es.
          if ((tag === TAG_STARTED_AT ? init.startedAt : init.updatedAt) !== undefined) throw new Unusual('timestamp twice');
          if (tag === TAG_STARTED_AT) init.startedAt = t;
          else init.updatedAt = t;
          break;
        }
        case TAG_DIGEST: {
          const len = r.length();
          init.digest = Buffer.from(buf.buffer, buf.byteOffset + r.pos, len).toString('utf8');
          r.pos += len;
          break;
        }
        default:
          throw new Unusual(`field ${tag}`);
      }
    }
    return create(WriteContentResponseSchema, init);
  } catch (err) {
    if (!(err instanceof Unusual)) throw err;
    return fromBinary(WriteContentResponseSchema, buf);
  }
}
