/** The rejection of `p`, for tests that look at an error's class or code; a failure if `p` resolves. */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

// Raw HTTP/2 frames, for the frame-level tests of h2-connection.ts and h2-client-connection.ts: the peer
// they play writes and reads frames by hand, so each rule is checked on the wire.

export const DATA = 0;
export const HEADERS = 1;
export const PRIORITY = 2;
export const RST_STREAM = 3;
export const SETTINGS = 4;
export const PUSH_PROMISE = 5;
export const PING = 6;
export const GOAWAY = 7;
export const WINDOW_UPDATE = 8;
export const CONTINUATION = 9;
// Flags: ACK and END_STREAM are one bit, each meaningful on other frame types.
export const END_STREAM = 1;
export const ACK = 1;
export const END_HEADERS = 4;
export const PADDED = 8;
export const PRIORITY_FLAG = 0x20;

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

export function encodeFrame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** Moves the whole frames at the start of `buf` into `frames`; returns what is left, a frame still to come. */
export function takeFrames(buf: Buffer, frames: Frame[]): Buffer {
  while (buf.length >= 9) {
    const len = buf.readUIntBE(0, 3);
    if (buf.length < 9 + len) break;
    // Copied: a frame a test keeps holds its own bytes, not the whole chunk it was read from.
    frames.push({ type: buf[3]!, flags: buf[4]!, stream: buf.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(buf.subarray(9, 9 + len)) });
    buf = buf.subarray(9 + len);
  }
  return buf;
}

export const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };

/** A SETTINGS payload of (id, value) pairs. */
export const settingsPayload = (pairs: [number, number][]) => Buffer.concat(pairs.map(([id, v]) => { const b = Buffer.alloc(6); b.writeUInt16BE(id); b.writeUInt32BE(v, 2); return b; }));
