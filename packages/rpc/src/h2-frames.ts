import type { Socket } from 'node:net';
import { createHpackDecoder, HpackError, type HeaderField } from './hpack.js';
import type { Inbound } from './h2-inbound.js';

/**
 * The frame level of an HTTP/2 connection (RFC 9113), shared by the server's (h2-connection.ts) and the
 * client's (h2-client-connection.ts): frames parsed straight from the socket's chunks (a DATA payload
 * reaches its stream as a view of the chunk it came in, a header block is assembled over CONTINUATION
 * frames and decoded), the frames every endpoint handles alike (SETTINGS, PING, WINDOW_UPDATE,
 * RST_STREAM, the connection's receive window), and the output: frames written in one turn leave in one
 * write.
 *
 * A connection holds one as a field and says, as a FramesOwner, what differs between the sides: which
 * stream ids are idle, where DATA goes, what a setting or GOAWAY or a decoded header block means, and how
 * a batch of output goes to the socket.
 */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const DATA = 0x0;
export const HEADERS = 0x1;
export const PRIORITY = 0x2;
export const RST_STREAM = 0x3;
export const SETTINGS = 0x4;
export const PUSH_PROMISE = 0x5;
export const PING = 0x6;
export const GOAWAY = 0x7;
export const WINDOW_UPDATE = 0x8;
export const CONTINUATION = 0x9;

export const FLAG_END_STREAM = 0x1;
export const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

/** HTTP/2 error codes. */
export const H2Error = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

export const SETTINGS_HEADER_TABLE_SIZE = 0x1;
export const SETTINGS_ENABLE_PUSH = 0x2;
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
export const SETTINGS_MAX_FRAME_SIZE = 0x5;
export const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;

export const DEFAULT_WINDOW = 65_535;
export const DEFAULT_FRAME_SIZE = 16_384;
export const MAX_WINDOW = 2 ** 31 - 1;

/** A connection error: the connection answers it with GOAWAY and closes. */
export class ConnectionError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** What the frame level asks of a connection's streams. */
export interface FramesStream {
  sendWindow: number;
  /** Send what the windows allow. */
  pump(): void;
  /** Reset the stream ourselves (RST_STREAM with `code`). */
  reset(code: number): void;
  /** The peer reset the stream. */
  resetByPeer(code: number): void;
}

/** What the frame level asks of the connection it belongs to. */
export interface FramesOwner {
  readonly socket: Socket;
  /** The connection is failed or closed: nothing more is read or written. */
  readonly dead: boolean;
  readonly streams: ReadonlyMap<number, FramesStream>;
  /** What the peer lets us send on the connection. */
  sendWindow: number;
  /** The peer's SETTINGS_MAX_FRAME_SIZE. */
  readonly peerMaxFrame: number;
  /** A stream id the peer may not name yet (or ever): frames on it are connection errors. */
  idle(id: number): boolean;
  /** A frame's head is in (the client checks that the server's preface is SETTINGS). */
  frameStarted(type: number, flags: number): void;
  /** A DATA frame of `len` bytes (counted against the connection's window already) for stream `id`: where its data goes, if anywhere. */
  dataTarget(id: number, len: number): Inbound | undefined;
  /** One setting of the peer's SETTINGS. */
  setting(id: number, value: number): void;
  /** Send what the windows allow of every blocked stream's queue. */
  unblock(): void;
  /** The peer's SETTINGS were applied and acknowledged. */
  settingsApplied(): void;
  /** The peer's GOAWAY, on stream `id`. */
  goawayFrame(id: number, p: Buffer): void;
  /** A whole header block, decoded, for stream `id`; `flags` those of its HEADERS frame. */
  headerBlock(id: number, flags: number, fields: HeaderField[]): void;
  /** Called as a flush starts, before anything is taken from the queue (the client frames its streams' data). */
  beforeFlush(): void;
  /** Write a batch of frames to the socket (more than one buffer; `size` bytes in all). */
  writeOut(bufs: Uint8Array[], size: number): void;
  /** Send GOAWAY with `code` and close. */
  fail(code: number, message: string): void;
}

export interface FramesOptions {
  /** Largest frame payload we accept. */
  readonly maxFrameSize: number;
  /** Largest header block we decode (its encoded size). */
  readonly maxHeaderBlock: number;
  /** The connection's receive window, shared by all its streams. */
  readonly connectionWindow: number;
  /** How long a PING's ack may wait for other output (H2ServerOptions.pingAckDelayMs); 0 sends it at once. */
  readonly pingAckDelayMs: number;
  /** The client checks that HEADERS come on streams it opened. */
  readonly headersNeedOpenStream: boolean;
  /** The error a PUSH_PROMISE earns. */
  readonly pushPromiseError: string;
}

// A class, not closures: its methods run for every frame of every call (see the connections).

export class Frames {
  private readonly decoder;
  // Input parsing.
  private readonly head = Buffer.alloc(9);
  private headFill = 0;
  private frameType = -1;
  private frameFlags = 0;
  private frameStream = 0;
  private frameLeft = 0;
  private payload: Buffer | undefined;
  private payloadFill = 0;
  // DATA frames are handed on piece by piece: padding to strip and whether the pad length is known yet.
  private dataPad = -1;
  private dataTarget: Inbound | undefined;
  // Header block being assembled over CONTINUATION frames.
  private blockStream = 0;
  private blockFlags = 0;
  private blockParts: Buffer[] = [];
  private blockSize = 0;
  // Flow control: what we have received but not yet re-granted.
  private recvWindow = DEFAULT_WINDOW;
  private recvUnacked = 0;
  // Output batching: frames written in one turn go out in one write.
  private out: Uint8Array[] = [];
  private outSize = 0;
  private flushScheduled = false;
  /** PING acks waiting for other output (H2ServerOptions.pingAckDelayMs), and the timer that sends them alone. */
  private pingAcks: Buffer[] = [];
  pingTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly owner: FramesOwner,
    private readonly opts: FramesOptions,
  ) {
    this.decoder = createHpackDecoder(4096);
  }

  /** Grant the peer our connection window beyond the default (after our SETTINGS). */
  openWindow(): void {
    if (this.opts.connectionWindow > DEFAULT_WINDOW) {
      this.windowUpdate(0, this.opts.connectionWindow - DEFAULT_WINDOW);
      this.recvWindow = this.opts.connectionWindow;
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Output

  push(buf: Uint8Array): void {
    if (this.owner.dead) return;
    this.out.push(buf);
    this.outSize += buf.length;
    this.scheduleFlush();
  }

  scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(flushFrames, this);
    }
  }

  flush(): void {
    // flushScheduled stays set meanwhile: what beforeFlush queues is ours.
    this.owner.beforeFlush();
    this.flushScheduled = false;
    if (this.pingAcks.length > 0 && this.out.length > 0) this.takePingAcks();
    if (this.owner.dead || this.out.length === 0) return;
    const bufs = this.out;
    const size = this.outSize;
    this.out = [];
    this.outSize = 0;
    if (bufs.length === 1) this.owner.socket.write(bufs[0]!);
    else this.owner.writeOut(bufs, size);
  }

  /** The connection is gone: drop queued output and waiting PING acks. */
  close(): void {
    clearTimeout(this.pingTimer);
    this.pingTimer = undefined;
    this.pingAcks = [];
    this.out = [];
    this.outSize = 0;
  }

  /** A frame's 9-byte head; its payload (`len` bytes) is pushed after it. */
  frameHead(type: number, flags: number, stream: number, len: number): void {
    const head = Buffer.allocUnsafe(9);
    head[0] = (len >>> 16) & 0xff;
    head[1] = (len >>> 8) & 0xff;
    head[2] = len & 0xff;
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(stream, 5);
    this.push(head);
  }

  frame(type: number, flags: number, stream: number, payload?: Uint8Array): void {
    const len = payload ? payload.length : 0;
    this.frameHead(type, flags, stream, len);
    if (len > 0) this.push(payload!);
  }

  /** Acknowledge a PING with the next output, or alone once the delay is up. */
  private ackPing(payload: Buffer): void {
    if (this.opts.pingAckDelayMs <= 0) {
      // The ack leaves with whatever else this turn writes (RFC 9113 asks acks to go out promptly).
      this.frame(PING, FLAG_ACK, 0, Buffer.from(payload));
      return;
    }
    const ack = Buffer.allocUnsafe(9 + 8);
    ack.writeUIntBE(8, 0, 3);
    ack[3] = PING;
    ack[4] = FLAG_ACK;
    ack.writeUInt32BE(0, 5);
    payload.copy(ack, 9);
    this.pingAcks.push(ack);
    this.pingTimer ??= setTimeout(sendPingAcks, this.opts.pingAckDelayMs, this).unref();
  }

  /** Put the waiting PING acks ahead of the queued output. */
  takePingAcks(): void {
    clearTimeout(this.pingTimer);
    this.pingTimer = undefined;
    const acks = this.pingAcks;
    this.pingAcks = [];
    if (this.owner.dead) return;
    for (const a of acks) this.outSize += a.length;
    this.out.unshift(...acks);
  }

  /** A header block, split into HEADERS and CONTINUATION frames that fit the peer's frame size. */
  headerFrames(stream: number, block: Buffer, endStream: boolean): void {
    const max = this.owner.peerMaxFrame;
    const end = endStream ? FLAG_END_STREAM : 0;
    if (block.length <= max) {
      this.frame(HEADERS, FLAG_END_HEADERS | end, stream, block);
      return;
    }
    this.frame(HEADERS, end, stream, block.subarray(0, max));
    for (let at = max; at < block.length; at += max) {
      const last = at + max >= block.length;
      this.frame(CONTINUATION, last ? FLAG_END_HEADERS : 0, stream, block.subarray(at, Math.min(at + max, block.length)));
    }
  }

  windowUpdate(stream: number, increment: number): void {
    const p = Buffer.allocUnsafe(4);
    p.writeUInt32BE(increment, 0);
    this.frame(WINDOW_UPDATE, 0, stream, p);
  }

  rstStream(stream: number, code: number): void {
    const p = Buffer.allocUnsafe(4);
    p.writeUInt32BE(code, 0);
    this.frame(RST_STREAM, 0, stream, p);
  }

  /** GOAWAY naming `lastStreamId`, the last of the peer's streams we took (a client takes none: 0). */
  goaway(lastStreamId: number, code: number, debug = ''): void {
    const p = Buffer.alloc(8 + Buffer.byteLength(debug));
    p.writeUInt32BE(lastStreamId, 0);
    p.writeUInt32BE(code, 4);
    p.write(debug, 8);
    this.frame(GOAWAY, 0, 0, p);
  }

  // ---------------------------------------------------------------------------------------------------
  // Input

  /** Parse a socket chunk from `at` on. */
  read(chunk: Buffer, at: number): void {
    const owner = this.owner;
    try {
      while (at < chunk.length && !owner.dead) {
        if (this.frameType < 0) {
          const n = Math.min(9 - this.headFill, chunk.length - at);
          chunk.copy(this.head, this.headFill, at, at + n);
          this.headFill += n;
          at += n;
          if (this.headFill < 9) break;
          this.headFill = 0;
          this.startFrame();
          if (this.frameLeft === 0 && this.frameType >= 0) this.endFrame(Buffer.alloc(0));
          continue;
        }
        const n = Math.min(this.frameLeft, chunk.length - at);
        if (this.frameType === DATA) {
          this.dataPiece(chunk, at, n);
          at += n;
          this.frameLeft -= n;
          if (this.frameLeft === 0) this.endData();
          continue;
        }
        if (this.payload === undefined) {
          if (n === this.frameLeft) {
            // The whole payload is in this chunk: a view, no copy.
            const p = chunk.subarray(at, at + n);
            at += n;
            this.frameLeft = 0;
            this.endFrame(p);
            continue;
          }
          this.payload = Buffer.allocUnsafe(this.frameLeft);
          this.payloadFill = 0;
        }
        chunk.copy(this.payload, this.payloadFill, at, at + n);
        this.payloadFill += n;
        at += n;
        this.frameLeft -= n;
        if (this.frameLeft === 0) {
          const p = this.payload;
          this.payload = undefined;
          this.endFrame(p);
        }
      }
    } catch (err) {
      if (err instanceof ConnectionError) owner.fail(err.code, err.message);
      else if (err instanceof HpackError) owner.fail(H2Error.COMPRESSION_ERROR, err.message);
      else throw err;
    }
  }

  private startFrame(): void {
    const h = this.head;
    const len = (h[0]! << 16) | (h[1]! << 8) | h[2]!;
    const type = h[3]!;
    this.frameFlags = h[4]!;
    this.frameStream = h.readUInt32BE(5) & 0x7fffffff;
    this.owner.frameStarted(type, this.frameFlags);
    if (len > this.opts.maxFrameSize) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `frame of ${len} bytes`);
    if (this.blockStream !== 0 && (type !== CONTINUATION || this.frameStream !== this.blockStream)) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'header block interrupted');
    }
    this.frameType = type;
    this.frameLeft = len;
    if (type === DATA) {
      const id = this.frameStream;
      if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on stream 0');
      if (this.owner.idle(id)) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on an idle stream');
      // Flow control counts the whole payload, padding included, whatever becomes of the stream. The
      // connection's window is re-granted as data arrives, not as it is read: a reader that is paused
      // holds back its own stream (its window), never the others.
      this.recvWindow -= len;
      if (this.recvWindow < 0) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'connection window exceeded');
      this.recvUnacked += len;
      if (this.recvUnacked >= this.opts.connectionWindow / 2) {
        this.windowUpdate(0, this.recvUnacked);
        this.recvWindow += this.recvUnacked;
        this.recvUnacked = 0;
      }
      this.dataTarget = this.owner.dataTarget(id, len);
      const padded = (this.frameFlags & FLAG_PADDED) !== 0;
      this.dataPad = padded ? -1 : 0;
      if (padded && len === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'padded DATA without pad length');
    }
  }

  /** `n` bytes of the current DATA frame's payload, of which `frameLeft` bytes were still to come. */
  private dataPiece(chunk: Buffer, at: number, n: number): void {
    if (n === 0) return;
    let left = this.frameLeft;
    if (this.dataPad < 0) {
      this.dataPad = chunk[at]!;
      // After the pad length come the data, then the padding.
      if (this.dataPad >= left) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'padding longer than the frame');
      this.dataTarget?.consumedPadding(1 + this.dataPad);
      at++;
      n--;
      left--;
    }
    // Of the frame's remaining bytes the last dataPad are padding.
    const take = Math.min(n, Math.max(0, left - this.dataPad));
    if (take > 0 && this.dataTarget !== undefined) this.dataTarget.deliver(chunk.subarray(at, at + take));
  }

  private endData(): void {
    const s = this.dataTarget;
    this.frameType = -1;
    this.dataTarget = undefined;
    if (s !== undefined && (this.frameFlags & FLAG_END_STREAM) !== 0) s.remoteEnd();
  }

  private endFrame(p: Buffer): void {
    const owner = this.owner;
    const type = this.frameType;
    this.frameType = -1;
    const flags = this.frameFlags;
    const id = this.frameStream;
    switch (type) {
      case DATA:
        // Only an empty DATA frame gets here.
        this.frameType = DATA;
        this.endData();
        return;
      case HEADERS: {
        if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'HEADERS on stream 0');
        if (this.opts.headersNeedOpenStream && owner.idle(id)) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `HEADERS on idle stream ${id}`);
        let start = 0;
        let end = p.length;
        if (flags & FLAG_PADDED) {
          if (p.length < 1) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'padded HEADERS without pad length');
          start = 1;
          end -= p[0]!;
        }
        if (flags & FLAG_PRIORITY) start += 5;
        if (start > end) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'HEADERS padding longer than the frame');
        this.blockStream = id;
        this.blockFlags = flags;
        this.addBlock(p.subarray(start, end), (flags & FLAG_END_HEADERS) !== 0);
        return;
      }
      case CONTINUATION:
        if (this.blockStream === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'CONTINUATION without HEADERS');
        this.addBlock(p, (flags & FLAG_END_HEADERS) !== 0);
        return;
      case PRIORITY:
        if (p.length !== 5) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'PRIORITY of the wrong size');
        return;
      case RST_STREAM: {
        if (p.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'RST_STREAM of the wrong size');
        if (id === 0 || owner.idle(id)) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
        owner.streams.get(id)?.resetByPeer(p.readUInt32BE(0));
        return;
      }
      case SETTINGS:
        if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS on a stream');
        if (flags & FLAG_ACK) {
          if (p.length !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS ack with a payload');
          return;
        }
        if (p.length % 6 !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS of the wrong size');
        for (let i = 0; i < p.length; i += 6) owner.setting(p.readUInt16BE(i), p.readUInt32BE(i + 2));
        this.frame(SETTINGS, FLAG_ACK, 0);
        owner.settingsApplied();
        return;
      case PUSH_PROMISE:
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, this.opts.pushPromiseError);
      case PING:
        if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PING on a stream');
        if (p.length !== 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'PING of the wrong size');
        if (!(flags & FLAG_ACK)) this.ackPing(p);
        return;
      case GOAWAY:
        owner.goawayFrame(id, p);
        return;
      case WINDOW_UPDATE: {
        if (p.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of the wrong size');
        const inc = p.readUInt32BE(0) & 0x7fffffff;
        if (id === 0) {
          if (inc === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
          owner.sendWindow += inc;
          if (owner.sendWindow > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'connection window overflow');
          owner.unblock();
          return;
        }
        const s = owner.streams.get(id);
        if (s === undefined) {
          if (owner.idle(id)) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
          return;
        }
        if (inc === 0) {
          s.reset(H2Error.PROTOCOL_ERROR);
          return;
        }
        s.sendWindow += inc;
        if (s.sendWindow > MAX_WINDOW) {
          s.reset(H2Error.FLOW_CONTROL_ERROR);
          return;
        }
        s.pump();
        return;
      }
      default:
        // Unknown frame types are ignored (RFC 9113 section 4.1).
        return;
    }
  }

  private addBlock(part: Buffer, last: boolean): void {
    this.blockSize += part.length;
    if (this.blockSize > this.opts.maxHeaderBlock) throw new ConnectionError(H2Error.ENHANCE_YOUR_CALM, 'header block too large');
    if (!last) {
      // The frame's bytes may be a view of a socket chunk: keep a copy while waiting for the rest.
      this.blockParts.push(Buffer.from(part));
      return;
    }
    const block = this.blockParts.length === 0 ? part : Buffer.concat([...this.blockParts, part]);
    const id = this.blockStream;
    const flags = this.blockFlags;
    this.blockParts = [];
    this.blockSize = 0;
    this.blockStream = 0;
    // Decode even a block for a stream that is gone or refused: the dynamic table must stay in step with the peer's.
    const fields = this.decoder.decode(block);
    this.owner.headerBlock(id, flags, fields);
  }
}

function flushFrames(f: Frames): void {
  f.flush();
}

function sendPingAcks(f: Frames): void {
  f.pingTimer = undefined;
  f.takePingAcks();
  f.flush();
}
