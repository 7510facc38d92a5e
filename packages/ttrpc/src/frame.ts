import { ResourceExhaustedError } from '@flotilla/errdefs';

/**
 * ttrpc's wire unit: a 10-byte header (big-endian payload length u32, stream id u32, type u8, flags u8)
 * then the payload. Both sides refuse a payload over 4 MiB unless configured otherwise.
 */
export const HEADER_LENGTH = 10;
export const MAX_MESSAGE_LENGTH = 4 << 20;

export const MessageType = {
  Request: 0x1,
  Response: 0x2,
  Data: 0x3,
} as const;

/** Flags carried by data frames of streaming calls; unary calls send 0. */
export const Flag = {
  RemoteClosed: 0x1,
  RemoteOpen: 0x2,
  NoData: 0x4,
} as const;

export interface FrameHeader {
  /** Payload length, header excluded. */
  readonly length: number;
  readonly streamId: number;
  readonly type: number;
  readonly flags: number;
}

export interface Frame extends FrameHeader {
  readonly payload: Buffer;
}

/** One frame as bytes. A payload over `max` is refused before anything is written. */
export function encodeFrame(streamId: number, type: number, flags: number, payload: Uint8Array, max = MAX_MESSAGE_LENGTH): Buffer {
  if (payload.length > max) {
    throw new ResourceExhaustedError(`message length ${payload.length} exceeds maximum message size of ${max}`);
  }
  const out = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(streamId >>> 0, 4);
  out[8] = type;
  out[9] = flags;
  out.set(payload, HEADER_LENGTH);
  return out;
}

export interface FrameSink {
  frame(frame: Frame): void;
  /**
   * A frame whose declared length is over the limit. Its payload has been skipped by the time this is
   * called, so the connection stays usable and the peer can be told on that stream.
   */
  oversized(header: FrameHeader): void;
}

export interface FrameDecoder {
  /** Feed bytes as they arrive; frames may be split across chunks or several may share one. */
  push(chunk: Buffer): void;
  /** Bytes held for an incomplete frame. */
  readonly buffered: number;
}

function readHeader(b: Buffer): FrameHeader {
  return { length: b.readUInt32BE(0), streamId: b.readUInt32BE(4), type: b[8] ?? 0, flags: b[9] ?? 0 };
}

/**
 * An incremental frame parser. Chunks are kept as they came and joined only once a whole header or
 * payload is there, so a large payload arriving in many reads is copied once.
 */
export function createFrameDecoder(sink: FrameSink, max = MAX_MESSAGE_LENGTH): FrameDecoder {
  let chunks: Buffer[] = [];
  let buffered = 0;
  let header: FrameHeader | undefined;
  // An oversized frame being skipped: how many payload bytes are still to come.
  let skipping: FrameHeader | undefined;
  let skipLeft = 0;

  const take = (n: number): Buffer => {
    buffered -= n;
    const first = chunks[0];
    if (first !== undefined && first.length >= n) {
      if (first.length === n) chunks.shift();
      else chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = chunks[0];
      if (c === undefined) break;
      const part = Math.min(c.length, n - at);
      c.copy(out, at, 0, part);
      at += part;
      if (part === c.length) chunks.shift();
      else chunks[0] = c.subarray(part);
    }
    return out;
  };

  const skip = (chunk: Buffer): Buffer => {
    const drop = Math.min(skipLeft, chunk.length);
    skipLeft -= drop;
    if (skipLeft === 0 && skipping !== undefined) {
      const h = skipping;
      skipping = undefined;
      sink.oversized(h);
    }
    return chunk.subarray(drop);
  };

  return {
    get buffered() {
      return buffered;
    },
    push(input) {
      let chunk = input;
      if (skipping !== undefined) chunk = skip(chunk);
      if (chunk.length > 0) {
        chunks.push(chunk);
        buffered += chunk.length;
      }
      for (;;) {
        if (header === undefined) {
          if (buffered < HEADER_LENGTH) return;
          const h = readHeader(take(HEADER_LENGTH));
          if (h.length > max) {
            // Drop the payload without holding it: whatever is buffered now, the rest as it arrives.
            skipping = h;
            skipLeft = h.length;
            const rest = chunks;
            chunks = [];
            buffered = 0;
            for (const c of rest) {
              const left = skipping === undefined ? c : skip(c);
              if (left.length > 0) {
                chunks.push(left);
                buffered += left.length;
              }
            }
            if (skipping !== undefined) return;
            continue;
          }
          header = h;
        }
        if (buffered < header.length) return;
        const h = header;
        header = undefined;
        sink.frame({ ...h, payload: h.length === 0 ? Buffer.alloc(0) : take(h.length) });
      }
    },
  };
}
