import type { Socket } from 'node:net';
import { encodeHeaders, type HeaderField } from './hpack.js';
import { Inbound, type InboundOwner } from './h2-inbound.js';
import {
  ConnectionError,
  DATA,
  DEFAULT_FRAME_SIZE,
  DEFAULT_WINDOW,
  FLAG_END_STREAM,
  Frames,
  H2Error,
  MAX_WINDOW,
  PREFACE,
  SETTINGS,
  SETTINGS_HEADER_TABLE_SIZE,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS,
  SETTINGS_MAX_FRAME_SIZE,
  SETTINGS_MAX_HEADER_LIST_SIZE,
  type FramesOwner,
} from './h2-frames.js';

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

/** HTTP/2 error codes. */
export { H2Error };

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

class Connection implements H2Connection, FramesOwner {
  readonly streams = new Map<number, Stream>();
  /** The frame level: parsing, the common frames, output batching (h2-frames.ts). */
  readonly frames: Frames;
  private readonly opts: H2ServerOptions;
  private lastStreamId = 0;
  private goingAway = false;
  dead = false;
  // Input parsing.
  private prefaceSeen = 0;
  // Flow control: what the peer lets us send.
  peerStreamWindow = DEFAULT_WINDOW;
  peerMaxFrame = DEFAULT_FRAME_SIZE;
  sendWindow = DEFAULT_WINDOW;
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
    this.frames = new Frames(this, {
      maxFrameSize: opts.maxFrameSize,
      maxHeaderBlock: opts.maxHeaderBlock,
      connectionWindow: opts.connectionWindow,
      pingAckDelayMs: opts.pingAckDelayMs,
      headersNeedOpenStream: false,
      pushPromiseError: 'a client cannot push',
    });
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
    this.frames.frame(SETTINGS, 0, 0, settings);
    this.frames.openWindow();
  }

  // ---------------------------------------------------------------------------------------------------
  // Output

  beforeFlush(): void {}

  writeOut(bufs: Uint8Array[], size: number): void {
    if (size <= 64 * 1024) {
      // Small frames (a unary call's whole response) are cheaper copied into one buffer than written apart.
      this.socket.write(Buffer.concat(bufs, size));
    } else {
      this.socket.cork();
      for (const b of bufs) this.socket.write(b);
      this.socket.uncork();
    }
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
    this.frames.read(chunk, at);
  }

  idle(id: number): boolean {
    return id > this.lastStreamId;
  }

  frameStarted(): void {}

  dataTarget(id: number, len: number): Inbound | undefined {
    // DATA for a stream already closed (reset, or answered and reset) is counted and dropped.
    const s = this.streams.get(id);
    const target = s && !s.inbound.remoteEnded ? s : undefined;
    target?.received(len);
    return target?.inbound;
  }

  settingsApplied(): void {
    this.unblock();
  }

  goawayFrame(): void {
    // The client will open no more streams; those open finish, then the client closes.
    this.goingAway = true;
  }

  setting(id: number, value: number): void {
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

  headerBlock(id: number, flags: number, fields: HeaderField[]): void {
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
      this.frames.rstStream(id, H2Error.REFUSED_STREAM);
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
    this.frames.flush();
    this.socket.end();
  }

  // ---------------------------------------------------------------------------------------------------
  // Lifetime

  fail(code: number, message: string): void {
    if (this.dead) return;
    this.frames.goaway(this.lastStreamId, code, message);
    this.frames.flush();
    this.dead = true;
    this.socket.end();
    this.onClose();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private onClose(): void {
    this.dead = true;
    this.frames.close();
    for (const s of [...this.streams.values()]) s.abort();
    this.streams.clear();
  }

  close(): void {
    if (this.dead || this.goingAway) return;
    this.goingAway = true;
    this.frames.goaway(this.lastStreamId, H2Error.NO_ERROR);
    if (this.streams.size === 0) this.end();
  }

  destroy(): void {
    this.socket.destroy();
    this.onClose();
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
    this.conn.frames.windowUpdate(this.id, increment);
  }

  /** The request is in: with the response sent, the exchange is over (else localEnd closes it). */
  readEnded(): void {
    if (this.localEnded) this.close();
  }

  // -- writing

  respond(fields: readonly HeaderField[] | Buffer, endStream = false): void {
    if (this.closed || this.responded) return;
    this.responded = true;
    this.conn.frames.headerFrames(this.id, Buffer.isBuffer(fields) ? fields : encodeHeaders(fields), endStream);
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
        conn.frames.headerFrames(this.id, item.trailers, true);
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
      conn.frames.frame(DATA, 0, this.id, data.subarray(item.offset, item.offset + n));
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
      this.conn.frames.rstStream(this.id, H2Error.NO_ERROR);
      this.close();
    }
  }

  reset(code: number = H2Error.CANCEL): void {
    if (this.closed) return;
    this.conn.frames.rstStream(this.id, code);
    this.close();
  }

  /** The client reset the stream. */
  resetByPeer(): void {
    this.close();
  }

  /** The connection is gone. */
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
