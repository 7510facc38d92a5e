import type { Socket } from 'node:net';
import { createHpackDecoder, encodeHeaders, HpackError, type HeaderField } from './hpack.js';
import { Inbound, type InboundOwner } from './h2-inbound.js';

/**
 * The server side of an HTTP/2 connection (RFC 9113), written for gRPC over a Unix socket.
 *
 * node:http2 costs more CPU per unary call than containerd's whole Go server: every stream is a Duplex
 * with its own buffers, headers travel as objects through C++ and back, and a response takes several
 * event turns. A gRPC call needs none of that. Here a call is parsed straight from the socket's chunks,
 * a DATA payload reaches its stream as a view of the chunk it came in, and a unary response (headers,
 * message, trailers) leaves in one write.
 *
 * What is implemented is what a server must do: the preface and SETTINGS exchange, HPACK, header blocks
 * split over CONTINUATION frames, padding, flow control both ways (a stream's window is only reopened as
 * its reader consumes data, so a slow handler pushes back on its client), PING, RST_STREAM, GOAWAY, and
 * the connection and stream errors a misbehaving peer earns. Server push and priorities are not: gRPC uses
 * neither.
 */

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

const DATA = 0x0;
const HEADERS = 0x1;
const PRIORITY = 0x2;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PUSH_PROMISE = 0x5;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;

const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
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

const SETTINGS_HEADER_TABLE_SIZE = 0x1;
const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const SETTINGS_MAX_FRAME_SIZE = 0x5;
const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;

const DEFAULT_WINDOW = 65_535;
const DEFAULT_FRAME_SIZE = 16_384;
const MAX_WINDOW = 2 ** 31 - 1;

export interface H2ServerOptions {
  /** Streams a client may have open at once; more are refused (REFUSED_STREAM). */
  readonly maxConcurrentStreams: number;
  /** Each stream's receive window: how much a client may send ahead of the handler reading it. */
  readonly streamWindow: number;
  /** The connection's receive window, shared by all its streams. */
  readonly connectionWindow: number;
  /** Largest frame payload we accept. */
  readonly maxFrameSize: number;
  /** Largest header block we decode (its encoded size). */
  readonly maxHeaderBlock: number;
  /**
   * How long, in ms, a PING's acknowledgement may wait for other output to leave with it. Go's gRPC client
   * (ctr, the kubelet) pings whenever DATA reaches it, to estimate the bandwidth-delay product, and sends
   * its next request soon after: acknowledged at once, nearly every response cost a write of its own for
   * the ack and a wake-up of the client to read it. RFC 9113 asks that acks go before other frames, which
   * they still do; 0 sends each at once.
   */
  readonly pingAckDelayMs: number;
}

export const defaultH2ServerOptions: H2ServerOptions = {
  maxConcurrentStreams: 10_000,
  streamWindow: 4 << 20,
  connectionWindow: 16 << 20,
  maxFrameSize: 1 << 20,
  maxHeaderBlock: 1 << 20,
  pingAckDelayMs: 5,
};

/** Request headers as Node's http2 gives them: one string per name, an array when a name repeats. */
export type RequestHeaders = Record<string, string | string[] | undefined>;

/**
 * One request/response exchange. Reading follows node's Readable events ('data', 'end', 'error',
 * 'close', with pause/resume), so the message parsers work on it and on any Readable alike. 'close'
 * comes once, when both sides are done or the exchange was cut (RST_STREAM, the connection lost).
 */
export interface H2Stream {
  readonly id: number;
  readonly headers: RequestHeaders;
  /** The client has sent its whole request and every byte of it has been delivered. */
  readonly readableEnded: boolean;
  /** Both sides finished, or the stream was reset. */
  readonly closed: boolean;
  on(event: 'data', fn: (chunk: Buffer) => void): this;
  on(event: 'end' | 'close' | 'drain', fn: () => void): this;
  on(event: 'error', fn: (err: Error) => void): this;
  once(event: 'data', fn: (chunk: Buffer) => void): this;
  once(event: 'end' | 'close' | 'drain', fn: () => void): this;
  once(event: 'error', fn: (err: Error) => void): this;
  off(event: string, fn: (...args: never[]) => void): this;
  pause(): this;
  resume(): this;
  isPaused(): boolean;
  /**
   * Send the response headers; with `endStream`, the whole response (trailers-only). Fields may come
   * encoded already (see encodeHeaders): a server's usual headers are the same on every call.
   */
  respond(fields: readonly HeaderField[] | Buffer, endStream?: boolean): void;
  /** Send response body bytes. False when the client is not taking them fast enough: wait for 'drain'. */
  write(data: Uint8Array): boolean;
  /** Send trailers, after any data still queued, and end the response. */
  end(trailers: readonly HeaderField[] | Buffer, data?: Uint8Array): void;
  /** Abandon the stream (RST_STREAM). */
  reset(code?: number): void;
}

/** Sent-but-not-yet-windowed bytes past which a stream's write() asks the writer to wait. */
const STREAM_HIGH_WATER = 1 << 20;

interface Pending {
  data: Uint8Array | undefined;
  offset: number;
  trailers: Buffer | undefined;
}

/**
 * Serve HTTP/2 on an accepted socket. `onStream` is called for every request stream once its headers
 * are in. Returns a handle to close the connection gracefully (GOAWAY, then close once streams are done).
 */
export function serveH2(
  socket: Socket,
  onStream: (stream: H2Stream) => void,
  options: H2ServerOptions = defaultH2ServerOptions,
): H2Connection {
  const conn = new Connection(socket, onStream, options);
  return conn;
}

export interface H2Connection {
  /** Refuse new streams (GOAWAY) and close once the open ones finish. */
  close(): void;
  /** Cut the connection now. */
  destroy(): void;
  readonly closed: Promise<void>;
}

// Classes below, not closures: one Stream is made per call on the hot path, and V8 handles a class's
// instances (one hidden class, shared methods) far better than per-call objects full of closures.

class Connection implements H2Connection {
  readonly streams = new Map<number, Stream>();
  private readonly decoder;
  private readonly opts: H2ServerOptions;
  private lastStreamId = 0;
  private goingAway = false;
  private dead = false;
  // Input parsing.
  private prefaceSeen = 0;
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
  private dataPadded = false;
  private dataTarget: Stream | undefined;
  // Header block being assembled over CONTINUATION frames.
  private blockStream = 0;
  private blockFlags = 0;
  private blockParts: Buffer[] = [];
  private blockSize = 0;
  // Flow control: what the peer lets us send, and what we have received but not yet re-granted.
  peerStreamWindow = DEFAULT_WINDOW;
  peerMaxFrame = DEFAULT_FRAME_SIZE;
  sendWindow = DEFAULT_WINDOW;
  private recvWindow: number;
  private recvUnacked = 0;
  // Output batching: frames written in one turn go out in one write.
  private out: Buffer[] = [];
  private outSize = 0;
  private flushScheduled = false;
  /** PING acks waiting for other output (H2ServerOptions.pingAckDelayMs), and the timer that sends them alone. */
  private pingAcks: Buffer[] = [];
  pingTimer: NodeJS.Timeout | undefined;
  /** Streams with data waiting for window (connection or their own). */
  readonly blocked = new Set<Stream>();
  /** Streams that told a writer to wait and owe it a 'drain'. */
  readonly wantDrain = new Set<Stream>();
  readonly closed: Promise<void>;

  constructor(
    readonly socket: Socket,
    private readonly onStream: (stream: H2Stream) => void,
    opts: H2ServerOptions,
  ) {
    this.opts = opts;
    this.decoder = createHpackDecoder(4096);
    this.recvWindow = DEFAULT_WINDOW;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('drain', () => this.onDrain());
    socket.once('close', () => this.onClose());

    const settings = Buffer.alloc(6 * 5);
    [
      [SETTINGS_MAX_CONCURRENT_STREAMS, opts.maxConcurrentStreams],
      [SETTINGS_INITIAL_WINDOW_SIZE, opts.streamWindow],
      [SETTINGS_MAX_FRAME_SIZE, opts.maxFrameSize],
      [SETTINGS_MAX_HEADER_LIST_SIZE, opts.maxHeaderBlock],
      [SETTINGS_HEADER_TABLE_SIZE, 4096],
    ].forEach(([id, value], i) => {
      settings.writeUInt16BE(id!, i * 6);
      settings.writeUInt32BE(value!, i * 6 + 2);
    });
    this.frame(SETTINGS, 0, 0, settings);
    if (opts.connectionWindow > DEFAULT_WINDOW) {
      this.windowUpdate(0, opts.connectionWindow - DEFAULT_WINDOW);
      this.recvWindow = opts.connectionWindow;
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Output

  push(buf: Buffer): void {
    if (this.dead) return;
    this.out.push(buf);
    this.outSize += buf.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(flushConnection, this);
    }
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.pingAcks.length > 0 && this.out.length > 0) this.takePingAcks();
    if (this.dead || this.out.length === 0) return;
    const bufs = this.out;
    const size = this.outSize;
    this.out = [];
    this.outSize = 0;
    if (bufs.length === 1) {
      this.socket.write(bufs[0]!);
    } else if (size <= 64 * 1024) {
      // Small frames (a unary call's whole response) are cheaper copied into one buffer than written apart.
      this.socket.write(Buffer.concat(bufs, size));
    } else {
      this.socket.cork();
      for (const b of bufs) this.socket.write(b);
      this.socket.uncork();
    }
  }

  frame(type: number, flags: number, stream: number, payload?: Uint8Array): void {
    const len = payload ? payload.length : 0;
    const head = Buffer.allocUnsafe(9);
    head[0] = (len >>> 16) & 0xff;
    head[1] = (len >>> 8) & 0xff;
    head[2] = len & 0xff;
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(stream, 5);
    this.push(head);
    if (len > 0) this.push(Buffer.isBuffer(payload) ? payload : Buffer.from(payload!.buffer, payload!.byteOffset, len));
  }

  /** Acknowledge a PING with the next output, or alone once the delay is up. */
  ackPing(payload: Buffer): void {
    if (this.opts.pingAckDelayMs <= 0) {
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
    if (this.dead) return;
    for (const a of acks) this.outSize += a.length;
    this.out.unshift(...acks);
  }

  /** A header block, split into HEADERS and CONTINUATION frames that fit the peer's frame size. */
  headerFrames(stream: number, block: Buffer, endStream: boolean): void {
    const max = this.peerMaxFrame;
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

  goaway(code: number, debug = ''): void {
    const p = Buffer.alloc(8 + Buffer.byteLength(debug));
    p.writeUInt32BE(this.lastStreamId, 0);
    p.writeUInt32BE(code, 4);
    p.write(debug, 8);
    this.frame(GOAWAY, 0, 0, p);
  }

  /** Send what the windows allow of every blocked stream's queue. */
  unblock(): void {
    for (const s of this.blocked) {
      if (this.sendWindow <= 0) break;
      s.pump();
    }
  }

  /** The socket took our backlog: writers that were told to wait may go on. */
  private onDrain(): void {
    for (const s of this.wantDrain) s.maybeDrain();
  }

  socketBusy(): boolean {
    return this.socket.writableNeedDrain;
  }

  // ---------------------------------------------------------------------------------------------------
  // Input

  private onData(chunk: Buffer): void {
    let at = 0;
    if (this.prefaceSeen < PREFACE.length) {
      const n = Math.min(PREFACE.length - this.prefaceSeen, chunk.length);
      if (!chunk.subarray(0, n).equals(PREFACE.subarray(this.prefaceSeen, this.prefaceSeen + n))) {
        // Not HTTP/2 (an HTTP/1 client, say): there is nobody to tell in HTTP/2 terms.
        this.destroy();
        return;
      }
      this.prefaceSeen += n;
      at = n;
    }
    try {
      while (at < chunk.length && !this.dead) {
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
      if (err instanceof ConnectionError) this.fail(err.code, err.message);
      else if (err instanceof HpackError) this.fail(H2Error.COMPRESSION_ERROR, err.message);
      else throw err;
    }
  }

  private startFrame(): void {
    const h = this.head;
    const len = (h[0]! << 16) | (h[1]! << 8) | h[2]!;
    const type = h[3]!;
    this.frameFlags = h[4]!;
    this.frameStream = h.readUInt32BE(5) & 0x7fffffff;
    if (len > this.opts.maxFrameSize) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `frame of ${len} bytes`);
    if (this.blockStream !== 0 && (type !== CONTINUATION || this.frameStream !== this.blockStream)) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'header block interrupted');
    }
    this.frameType = type;
    this.frameLeft = len;
    if (type === DATA) {
      const id = this.frameStream;
      if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on stream 0');
      if (id > this.lastStreamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on an idle stream');
      // Flow control counts the whole payload, padding included, whatever becomes of the stream.
      this.recvWindow -= len;
      if (this.recvWindow < 0) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'connection window exceeded');
      this.recvUnacked += len;
      if (this.recvUnacked >= this.opts.connectionWindow / 2) {
        this.windowUpdate(0, this.recvUnacked);
        this.recvWindow += this.recvUnacked;
        this.recvUnacked = 0;
      }
      // DATA for a stream already closed (reset, or answered and reset) is counted above and dropped.
      const s = this.streams.get(id);
      this.dataTarget = s && !s.inbound.remoteEnded ? s : undefined;
      this.dataTarget?.received(len);
      this.dataPadded = (this.frameFlags & FLAG_PADDED) !== 0;
      this.dataPad = this.dataPadded ? -1 : 0;
      if (this.dataPadded && len === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'padded DATA without pad length');
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
      this.dataTarget?.inbound.consumedPadding(1 + this.dataPad);
      at++;
      n--;
      left--;
    }
    // Of the frame's remaining bytes the last dataPad are padding.
    const dataLeft = left - this.dataPad;
    const take = Math.min(n, Math.max(0, dataLeft));
    if (take > 0 && this.dataTarget) this.dataTarget.inbound.deliver(chunk.subarray(at, at + take));
  }

  private endData(): void {
    const s = this.dataTarget;
    this.frameType = -1;
    this.dataTarget = undefined;
    if (s && (this.frameFlags & FLAG_END_STREAM) !== 0) s.inbound.remoteEnd();
  }

  private endFrame(p: Buffer): void {
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
        if (id === 0 || id > this.lastStreamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
        this.streams.get(id)?.abort();
        return;
      }
      case SETTINGS:
        if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS on a stream');
        if (flags & FLAG_ACK) {
          if (p.length !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS ack with a payload');
          return;
        }
        if (p.length % 6 !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS of the wrong size');
        for (let i = 0; i < p.length; i += 6) this.setting(p.readUInt16BE(i), p.readUInt32BE(i + 2));
        this.frame(SETTINGS, FLAG_ACK, 0);
        this.unblock();
        return;
      case PUSH_PROMISE:
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'a client cannot push');
      case PING:
        if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PING on a stream');
        if (p.length !== 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'PING of the wrong size');
        if (!(flags & FLAG_ACK)) this.ackPing(p);
        return;
      case GOAWAY:
        // The client will open no more streams; those open finish, then the client closes.
        this.goingAway = true;
        return;
      case WINDOW_UPDATE: {
        if (p.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of the wrong size');
        const inc = p.readUInt32BE(0) & 0x7fffffff;
        if (id === 0) {
          if (inc === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
          this.sendWindow += inc;
          if (this.sendWindow > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'connection window overflow');
          this.unblock();
          return;
        }
        const s = this.streams.get(id);
        if (!s) {
          if (id > this.lastStreamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
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

  private setting(id: number, value: number): void {
    switch (id) {
      case SETTINGS_INITIAL_WINDOW_SIZE: {
        if (value > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'initial window too large');
        const delta = value - this.peerStreamWindow;
        this.peerStreamWindow = value;
        for (const s of this.streams.values()) s.sendWindow += delta;
        return;
      }
      case SETTINGS_MAX_FRAME_SIZE:
        if (value < DEFAULT_FRAME_SIZE || value > 0xffffff) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'bad max frame size');
        this.peerMaxFrame = value;
        return;
      case 0x2: // ENABLE_PUSH: a server that never pushes has nothing to change.
        if (value > 1) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'bad enable push');
        return;
      default:
        // The peer's header table size only matters to an encoder that indexes; ours never does.
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
    // Decode even a block we refuse: the dynamic table must stay in step with the client's.
    const fields = this.decoder.decode(block);
    this.headerBlock(id, flags, fields);
  }

  private headerBlock(id: number, flags: number, fields: HeaderField[]): void {
    const endStream = (flags & FLAG_END_STREAM) !== 0;
    const existing = this.streams.get(id);
    if (existing) {
      // Trailers from the client: gRPC never sends any, but they legally end the request.
      if (!endStream || existing.inbound.remoteEnded) {
        existing.reset(H2Error.PROTOCOL_ERROR);
        return;
      }
      existing.inbound.remoteEnd();
      return;
    }
    if (id <= this.lastStreamId) {
      // A stream that has been closed.
      throw new ConnectionError(H2Error.STREAM_CLOSED, `HEADERS on closed stream ${id}`);
    }
    if (id % 2 === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'a client stream id must be odd');
    this.lastStreamId = id;
    if (this.goingAway || this.streams.size >= this.opts.maxConcurrentStreams) {
      this.rstStream(id, H2Error.REFUSED_STREAM);
      return;
    }
    const headers: RequestHeaders = {};
    for (const [name, value] of fields) {
      const prev = headers[name];
      if (prev === undefined) headers[name] = value;
      else if (Array.isArray(prev)) prev.push(value);
      else headers[name] = [prev, value];
    }
    const s = new Stream(this, id, headers, this.opts.streamWindow);
    this.streams.set(id, s);
    if (endStream) s.inbound.remoteEnded = true;
    this.onStream(s);
    if (endStream) s.inbound.remoteEnd(true);
  }

  streamClosed(s: Stream): void {
    this.streams.delete(s.id);
    this.blocked.delete(s);
    this.wantDrain.delete(s);
    if (this.goingAway && this.streams.size === 0) this.end();
  }

  /** Close our side once everything queued is written. */
  private end(): void {
    this.flush();
    this.socket.end();
  }

  // ---------------------------------------------------------------------------------------------------
  // Lifetime

  private fail(code: number, message: string): void {
    if (this.dead) return;
    this.goaway(code, message);
    this.flush();
    this.dead = true;
    this.socket.end();
    this.onClose();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private onClose(): void {
    this.dead = true;
    clearTimeout(this.pingTimer);
    this.pingAcks = [];
    for (const s of [...this.streams.values()]) s.abort();
    this.streams.clear();
  }

  close(): void {
    if (this.dead || this.goingAway) return;
    this.goingAway = true;
    this.goaway(H2Error.NO_ERROR);
    if (this.streams.size === 0) this.end();
  }

  destroy(): void {
    this.socket.destroy();
    this.onClose();
  }
}

function flushConnection(c: Connection): void {
  c.flush();
}

function sendPingAcks(c: Connection): void {
  c.pingTimer = undefined;
  c.takePingAcks();
  c.flush();
}

class ConnectionError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

class Stream implements H2Stream, InboundOwner {
  closed = false;
  sendWindow: number;
  /** The reading half, which also keeps the listeners of every event (h2-inbound.ts). */
  readonly inbound: Inbound;
  private localEnded = false;
  private responded = false;
  private readonly queue: Pending[] = [];
  private queued = 0;

  constructor(
    private readonly conn: Connection,
    readonly id: number,
    readonly headers: RequestHeaders,
    window: number,
  ) {
    this.sendWindow = conn.peerStreamWindow;
    this.inbound = new Inbound(this, window);
  }

  get readableEnded(): boolean {
    return this.inbound.readableEnded;
  }

  // -- reading (h2-inbound.ts)

  on(event: string, fn: (...args: never[]) => void): this {
    this.inbound.on(event, fn);
    return this;
  }

  once(event: string, fn: (...args: never[]) => void): this {
    this.inbound.once(event, fn);
    return this;
  }

  off(event: string, fn: (...args: never[]) => void): this {
    this.inbound.off(event, fn);
    return this;
  }

  pause(): this {
    this.inbound.pause();
    return this;
  }

  resume(): this {
    this.inbound.resume();
    return this;
  }

  isPaused(): boolean {
    return this.inbound.isPaused();
  }

  received(len: number): void {
    if (!this.inbound.received(len)) this.reset(H2Error.FLOW_CONTROL_ERROR);
  }

  windowUpdate(increment: number): void {
    this.conn.windowUpdate(this.id, increment);
  }

  /** The request is in: with the response sent, the exchange is over (else localEnd closes it). */
  readEnded(): void {
    if (this.localEnded) this.close();
  }

  // -- writing

  respond(fields: readonly HeaderField[] | Buffer, endStream = false): void {
    if (this.closed || this.responded) return;
    this.responded = true;
    this.conn.headerFrames(this.id, Buffer.isBuffer(fields) ? fields : encodeHeaders(fields), endStream);
    if (endStream) this.localEnd();
  }

  write(data: Uint8Array): boolean {
    if (this.closed || this.localEnded) return false;
    this.queue.push({ data, offset: 0, trailers: undefined });
    this.queued += data.length;
    this.pump();
    if (this.queued > STREAM_HIGH_WATER || this.conn.socketBusy()) {
      this.conn.wantDrain.add(this);
      return false;
    }
    return true;
  }

  end(trailers: readonly HeaderField[] | Buffer, data?: Uint8Array): void {
    if (this.closed || this.localEnded) return;
    if (data && data.length > 0) {
      this.queue.push({ data, offset: 0, trailers: undefined });
      this.queued += data.length;
    }
    this.queue.push({ data: undefined, offset: 0, trailers: Buffer.isBuffer(trailers) ? trailers : encodeHeaders(trailers) });
    this.pump();
  }

  /** Send what the windows allow; what is left waits for a WINDOW_UPDATE. */
  pump(): void {
    const conn = this.conn;
    while (this.queue.length > 0 && !this.closed) {
      const item = this.queue[0]!;
      if (item.trailers) {
        this.queue.shift();
        conn.headerFrames(this.id, item.trailers, true);
        this.localEnd();
        break;
      }
      const data = item.data!;
      // An empty message still needs its frame.
      const left = data.length - item.offset;
      const n = Math.min(left, this.sendWindow, conn.sendWindow, conn.peerMaxFrame);
      if (n <= 0 && left > 0) {
        conn.blocked.add(this);
        return;
      }
      conn.frame(DATA, 0, this.id, data.subarray(item.offset, item.offset + n));
      this.sendWindow -= n;
      conn.sendWindow -= n;
      item.offset += n;
      this.queued -= n;
      if (item.offset >= data.length) this.queue.shift();
    }
    conn.blocked.delete(this);
    this.maybeDrain();
  }

  maybeDrain(): void {
    if (!this.conn.wantDrain.has(this)) return;
    if (this.closed) {
      this.conn.wantDrain.delete(this);
      return;
    }
    if (this.queued <= STREAM_HIGH_WATER && !this.conn.socketBusy()) {
      this.conn.wantDrain.delete(this);
      this.inbound.emit('drain');
    }
  }

  private localEnd(): void {
    this.localEnded = true;
    if (this.inbound.readableEnded) {
      this.close();
    } else {
      // The response is complete while the client still sends: tell it to stop (RST_STREAM NO_ERROR, as
      // RFC 9113 section 8.1 allows), and drop whatever else arrives for the stream.
      this.conn.rstStream(this.id, H2Error.NO_ERROR);
      this.close();
    }
  }

  reset(code: number = H2Error.CANCEL): void {
    if (this.closed) return;
    this.conn.rstStream(this.id, code);
    this.close();
  }

  /** The client reset the stream, or the connection is gone. */
  abort(): void {
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.conn.streamClosed(this);
    this.inbound.close();
  }
}
