import type { Socket } from 'node:net';
import { encodeHeaders, type HeaderField } from './hpack.js';
import { Inbound, type InboundOwner } from './h2-inbound.js';
import {
  ConnectionError,
  DATA,
  DEFAULT_FRAME_SIZE,
  DEFAULT_WINDOW,
  FLAG_ACK,
  FLAG_END_STREAM,
  Frames,
  H2Error,
  MAX_WINDOW,
  PREFACE,
  SETTINGS,
  SETTINGS_ENABLE_PUSH,
  SETTINGS_HEADER_TABLE_SIZE,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS,
  SETTINGS_MAX_FRAME_SIZE,
  SETTINGS_MAX_HEADER_LIST_SIZE,
  type FramesOwner,
} from './h2-frames.js';

/**
 * The client side of an HTTP/2 connection (RFC 9113), written for gRPC over a Unix socket: the other half
 * of h2-connection.ts, and built the same way.
 *
 * node:http2's client costs CPU on every call: each stream is a Duplex with its own buffers, headers go
 * through C++ objects and back, a response takes several event turns, DATA always leaves in 16 KiB frames
 * and every call ends with an RST_STREAM. The gateway relays most of containerd's API to plugin processes
 * over this client, so that cost is paid on nearly every call a client makes. Here a request leaves in
 * one write with its headers (usually encoded once per method), its message framed around the caller's
 * bytes without copying them, and a unary response is parsed straight from the socket chunk it came in,
 * its DATA a view of that chunk, the call settled in the same turn.
 *
 * What is implemented is what a client must do: the preface and SETTINGS exchange (honouring the
 * server's windows, frame size and stream limit: requests past MAX_CONCURRENT_STREAMS wait for a slot),
 * HPACK, header blocks over CONTINUATION frames, padding, flow control both ways (a stream's window is
 * only reopened as its reader consumes data, so a paused reader pushes back on the server), PING,
 * RST_STREAM, GOAWAY and the connection errors a misbehaving server earns. Server push (disabled in our
 * SETTINGS) and priorities are not: gRPC uses neither.
 */

const MAX_STREAM_ID = 2 ** 31 - 1;

export { H2Error };
// What a caller needs to encode its request headers ahead of time.
export { encodeHeaders, type HeaderField };

export interface H2ClientOptions {
  /** Each stream's receive window (our INITIAL_WINDOW_SIZE): what a server may send ahead of our reader. */
  readonly streamWindow: number;
  /** The connection's receive window, shared by all its streams. */
  readonly connectionWindow: number;
  /** Largest frame payload we accept (our SETTINGS_MAX_FRAME_SIZE). */
  readonly maxFrameSize: number;
  /** Largest header block we decode (its encoded size). */
  readonly maxHeaderBlock: number;
}

/**
 * Windows as large as our server's: a 1 MiB message never waits for a WINDOW_UPDATE, and only bytes in
 * flight take memory.
 */
export const defaultH2ClientOptions: H2ClientOptions = {
  streamWindow: 4 << 20,
  connectionWindow: 16 << 20,
  maxFrameSize: 1 << 20,
  maxHeaderBlock: 1 << 20,
};

/** Response headers or trailers as Node's http2 gives them: one string per name, an array when a name repeats. */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

/**
 * One request/response exchange. Reading follows node's Readable events ('data', 'end', with
 * pause/resume), so the message parsers of h2-framing.ts work on it as on any Readable. A stream is
 * never an 'error' emitter: it ends in one 'close', whose cause is read from `rstCode` and `error`.
 */
export interface H2ClientStream {
  /** The stream's id; 0 while it waits for a slot under the server's MAX_CONCURRENT_STREAMS. */
  readonly id: number;
  /** The response headers once they came (those of a trailers-only response hold its status). */
  readonly headers: ResponseHeaders | undefined;
  /** The trailers, if the response ended with some. */
  readonly trailers: ResponseHeaders | undefined;
  /** The server has sent its whole response and every byte of it has been delivered. */
  readonly readableEnded: boolean;
  /** Both sides finished, or the stream was cut (reset, refused, the connection lost). */
  readonly closed: boolean;
  /**
   * Why the stream was reset, by either side (an RST_STREAM code; REFUSED_STREAM for a stream the server
   * never took, after its GOAWAY; NO_ERROR for one whose response completed while the request was still
   * open, which we then reset). Undefined for a stream that completed or was lost with its connection.
   */
  readonly rstCode: number | undefined;
  /** Set when the connection failed or closed under the stream: the socket's error, or what went wrong. */
  readonly error: Error | undefined;
  /** The response headers (not informational ones). */
  on(event: 'response' | 'trailers', fn: (headers: ResponseHeaders) => void): this;
  /**
   * Response body bytes. A chunk is a view of the socket chunk it arrived in: Node reads each socket chunk
   * into a fresh buffer and never touches it again, so it may be kept as it is.
   */
  on(event: 'data', fn: (chunk: Buffer) => void): this;
  /** 'end': the response is complete; 'close': the stream is over; 'drain': write() may go on. */
  on(event: 'end' | 'close' | 'drain', fn: () => void): this;
  /** Never emitted (see `rstCode` and `error`); accepted so the stream reads as a Readable does. */
  on(event: 'error', fn: (err: Error) => void): this;
  once(event: 'response' | 'trailers', fn: (headers: ResponseHeaders) => void): this;
  once(event: 'data', fn: (chunk: Buffer) => void): this;
  once(event: 'end' | 'close' | 'drain', fn: () => void): this;
  once(event: 'error', fn: (err: Error) => void): this;
  off(event: string, fn: (...args: never[]) => void): this;
  pause(): this;
  resume(): this;
  isPaused(): boolean;
  /**
   * Send request body bytes. They are not copied: the buffer must not change until it is written (keep it
   * as it is). Writes of one turn leave together, in as few DATA frames as the windows and the server's
   * frame size allow. False when the server or the socket is not taking them fast enough: wait for 'drain'.
   */
  write(data: Uint8Array): boolean;
  /** End the request, with `data` as its last bytes: END_STREAM goes on the frame that carries them. */
  end(data?: Uint8Array): void;
  /** Abandon the stream (RST_STREAM, CANCEL by default). */
  reset(code?: number): void;
}

export interface H2ClientConnection {
  /**
   * Open a request stream. `headers` may come encoded already (see encodeHeaders: a client's request
   * headers are mostly the same on every call), pseudo-headers first. With `endStream`, the request has no
   * body. Throws when the connection takes no new streams (`closed`).
   */
  request(headers: readonly HeaderField[] | Buffer, endStream?: boolean): H2ClientStream;
  /** No new streams may be opened: the connection failed, was closed, or the server sent GOAWAY. */
  readonly closed: boolean;
  /** Why the connection failed, once it did. */
  readonly error: Error | undefined;
  /** Streams open or waiting for a slot. */
  readonly streamCount: number;
  /** Let the socket hold the process open (a socket does by default)... */
  ref(): void;
  /** ...or not: callers ref while calls are in flight, so an idle connection lets the process exit. */
  unref(): void;
  /** Open no more streams (GOAWAY) and close once the open ones finish; waiting ones are refused. */
  close(): void;
  /** Cut the connection now: every stream fails with `err` (or "connection closed"). */
  destroy(err?: Error): void;
}

/**
 * Speak HTTP/2 as a client on `socket`, connected or still connecting (what is written meanwhile waits in
 * the socket). The connection owns the socket from then on.
 */
export function connectH2(socket: Socket, options: Partial<H2ClientOptions> = {}): H2ClientConnection {
  return new Connection(socket, { ...defaultH2ClientOptions, ...options });
}

/** Sent-but-not-yet-windowed bytes past which a stream's write() asks the writer to wait. */
const STREAM_HIGH_WATER = 1 << 20;
/** Buffers this long and longer go to the socket as they are; shorter ones are copied together into one. */
const COPY_LIMIT = 8 << 10;

// Classes below, not closures: one Stream is made per call on the hot path, and V8 handles a class's
// instances (one hidden class, shared methods) far better than per-call objects full of closures.

class Connection implements H2ClientConnection, FramesOwner {
  readonly streams = new Map<number, Stream>();
  /** The frame level: parsing, the common frames, output batching (h2-frames.ts). */
  readonly frames: Frames;
  /** Streams waiting for a slot under the server's MAX_CONCURRENT_STREAMS, in the order they were made. */
  private waiting: Stream[] = [];
  private nextId = 1;
  private peerMaxStreams = Infinity;
  private readonly opts: H2ClientOptions;
  private goingAway = false;
  dead = false;
  error: Error | undefined;
  // Input parsing.
  private settingsSeen = false;
  // Flow control: what the server lets us send.
  peerStreamWindow = DEFAULT_WINDOW;
  peerMaxFrame = DEFAULT_FRAME_SIZE;
  sendWindow = DEFAULT_WINDOW;
  /** Streams given data (or their end) since the last flush: it frames them all at once. */
  readonly toPump = new Set<Stream>();
  /** Streams with data waiting for window (the connection's or their own). */
  readonly blocked = new Set<Stream>();
  /** Streams that told a writer to wait and owe it a 'drain'. */
  readonly wantDrain = new Set<Stream>();

  constructor(readonly socket: Socket, opts: H2ClientOptions) {
    this.opts = opts;
    this.frames = new Frames(this, {
      maxFrameSize: opts.maxFrameSize,
      maxHeaderBlock: opts.maxHeaderBlock,
      connectionWindow: opts.connectionWindow,
      pingAckDelayMs: 0,
      headersNeedOpenStream: true,
      pushPromiseError: 'push is disabled',
    });
    const frames = this.frames;
    socket.on('data', (chunk: Buffer) => frames.read(chunk, 0));
    socket.on('error', (err: Error) => { this.error ??= err; });
    socket.on('drain', () => this.onDrain());
    socket.once('close', () => this.onClose());

    frames.push(PREFACE);
    const settings = Buffer.alloc(6 * 4);
    [
      [SETTINGS_ENABLE_PUSH, 0],
      [SETTINGS_INITIAL_WINDOW_SIZE, opts.streamWindow],
      [SETTINGS_MAX_FRAME_SIZE, opts.maxFrameSize],
      [SETTINGS_MAX_HEADER_LIST_SIZE, opts.maxHeaderBlock],
    ].forEach(([id, value], i) => {
      settings.writeUInt16BE(id!, i * 6);
      settings.writeUInt32BE(value!, i * 6 + 2);
    });
    frames.frame(SETTINGS, 0, 0, settings);
    frames.openWindow();
  }

  get closed(): boolean {
    return this.dead || this.goingAway || this.nextId > MAX_STREAM_ID;
  }

  get streamCount(): number {
    return this.streams.size + this.waiting.length;
  }

  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  // ---------------------------------------------------------------------------------------------------
  // Streams

  request(headers: readonly HeaderField[] | Buffer, endStream = false): H2ClientStream {
    if (this.closed) throw this.error ?? new Error(this.dead ? 'the connection is closed' : 'the connection takes no new streams');
    const s = new Stream(this, Buffer.isBuffer(headers) ? headers : encodeHeaders(headers), this.opts.streamWindow);
    if (endStream) s.endQueued = true;
    if (this.waiting.length === 0 && this.streams.size < this.peerMaxStreams) this.open(s);
    else this.waiting.push(s);
    return s;
  }

  /** Give the stream its id and send its headers. Ids are given in the order streams open, as they must be. */
  private open(s: Stream): void {
    const id = this.nextId;
    this.nextId += 2;
    s.id = id;
    s.sendWindow = this.peerStreamWindow;
    this.streams.set(id, s);
    const block = s.block!;
    s.block = undefined;
    // A request without a body ends with its headers.
    const end = s.endQueued && s.queued === 0;
    this.frames.headerFrames(id, block, end);
    if (end) s.localEnd();
    else if (s.queued > 0 || s.endQueued) this.wantPump(s);
  }

  /** Open what waits, as far as the server's stream limit allows. */
  private openWaiting(): void {
    while (this.waiting.length > 0 && this.streams.size < this.peerMaxStreams && !this.closed) this.open(this.waiting.shift()!);
  }

  wantPump(s: Stream): void {
    this.toPump.add(s);
    this.frames.scheduleFlush();
  }

  streamClosed(s: Stream): void {
    if (s.id === 0) {
      const i = this.waiting.indexOf(s);
      if (i >= 0) this.waiting.splice(i, 1);
    } else {
      this.streams.delete(s.id);
    }
    this.toPump.delete(s);
    this.blocked.delete(s);
    this.wantDrain.delete(s);
    if (this.dead) return;
    if (this.waiting.length > 0) this.openWaiting();
    if (this.goingAway && this.streams.size === 0 && this.waiting.length === 0) this.end();
  }

  // ---------------------------------------------------------------------------------------------------
  // Output

  beforeFlush(): void {
    // Frame the data written this turn first (the flush is still marked scheduled: what it queues is ours).
    for (const s of this.toPump) {
      // Deleted before it is pumped: a 'drain' listener that writes again adds it back, for this loop.
      this.toPump.delete(s);
      s.pump();
    }
  }

  writeOut(bufs: Uint8Array[], size: number): void {
    // Frame heads and small frames (a unary call's whole request) are cheaper copied into one buffer than
    // written apart; large payloads (the caller's bytes) go as they are, in one writev with the rest.
    let big = 0;
    for (const b of bufs) if (b.length >= COPY_LIMIT) big++;
    if (big === 0) {
      this.socket.write(Buffer.concat(bufs, size));
      return;
    }
    this.socket.cork();
    let from = 0;
    let runSize = 0;
    for (let i = 0; i < bufs.length; i++) {
      const b = bufs[i]!;
      if (b.length < COPY_LIMIT) {
        runSize += b.length;
        continue;
      }
      if (i > from) this.socket.write(i - from === 1 ? bufs[from]! : Buffer.concat(bufs.slice(from, i), runSize));
      this.socket.write(b);
      from = i + 1;
      runSize = 0;
    }
    if (bufs.length > from) this.socket.write(bufs.length - from === 1 ? bufs[from]! : Buffer.concat(bufs.slice(from), runSize));
    this.socket.uncork();
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

  /** A stream id the server names that we never opened: idle (not opened yet) or even (a server's own). */
  idle(id: number): boolean {
    return id >= this.nextId || id % 2 === 0;
  }

  frameStarted(type: number, flags: number): void {
    if (!this.settingsSeen) {
      // The server's preface is a SETTINGS frame.
      if (type !== SETTINGS || (flags & FLAG_ACK) !== 0) {
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'the server did not start with SETTINGS');
      }
      this.settingsSeen = true;
    }
  }

  dataTarget(id: number, len: number): Inbound | undefined {
    // DATA for a stream already closed (reset, say) is counted and dropped.
    const s = this.streams.get(id);
    if (s === undefined || s.inbound.remoteEnded) return undefined;
    s.received(len);
    // Reset for taking more than its window, or for data before headers.
    return s.closed ? undefined : s.inbound;
  }

  settingsApplied(): void {
    this.unblock();
    this.openWaiting();
  }

  goawayFrame(id: number, p: Buffer): void {
    if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'GOAWAY on a stream');
    if (p.length < 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'GOAWAY of the wrong size');
    this.onGoaway(p.readUInt32BE(0) & 0x7fffffff, p.readUInt32BE(4), p.toString('latin1', 8));
  }

  setting(id: number, value: number): void {
    switch (id) {
      case SETTINGS_INITIAL_WINDOW_SIZE: {
        if (value > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'initial window too large');
        const delta = value - this.peerStreamWindow;
        this.peerStreamWindow = value;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'stream window overflow');
        }
        return;
      }
      case SETTINGS_MAX_FRAME_SIZE:
        if (value < DEFAULT_FRAME_SIZE || value > 0xffffff) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'bad max frame size');
        this.peerMaxFrame = value;
        return;
      case SETTINGS_MAX_CONCURRENT_STREAMS:
        // Streams open past a lowered limit go on; new ones wait until enough have closed.
        this.peerMaxStreams = value;
        return;
      case SETTINGS_ENABLE_PUSH:
        // A server may only confirm that it will not push (RFC 9113 section 6.5.2).
        if (value !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'a server cannot enable push');
        return;
      case SETTINGS_HEADER_TABLE_SIZE:
        // The table the server's decoder keeps for our encoder, which never indexes: nothing to do. The
        // table our decoder keeps is ours to size (SETTINGS we send; the default 4096 here).
        return;
      default:
        // MAX_HEADER_LIST_SIZE is advisory; unknown settings are ignored.
        return;
    }
  }

  headerBlock(id: number, flags: number, fields: HeaderField[]): void {
    this.streams.get(id)?.headerBlock(fields, (flags & FLAG_END_STREAM) !== 0);
  }

  /**
   * The server opens no more streams of ours: those it did not take (past its last stream id, and those
   * still waiting here) are refused and may be retried elsewhere; the others finish.
   */
  private onGoaway(lastId: number, code: number, debug: string): void {
    this.goingAway = true;
    if (code !== H2Error.NO_ERROR) this.error ??= new Error(`the server sent GOAWAY with error code ${code}${debug ? `: ${debug}` : ''}`);
    const refused = this.waiting;
    this.waiting = [];
    for (const s of this.streams.values()) if (s.id > lastId) refused.push(s);
    for (const s of refused) s.refused();
    if (this.streams.size === 0) this.end();
  }

  /** Close our side once everything queued is written. */
  private end(): void {
    if (this.dead) return;
    this.frames.flush();
    this.dead = true;
    this.socket.end();
  }

  // ---------------------------------------------------------------------------------------------------
  // Lifetime

  fail(code: number, message: string): void {
    if (this.dead) return;
    this.error ??= new Error(`HTTP/2 connection error: ${message}`);
    // The last stream of the server's we took: a client takes none.
    this.frames.goaway(0, code, message);
    this.frames.flush();
    this.dead = true;
    this.socket.end();
    this.onClose();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private onClose(): void {
    this.dead = true;
    this.frames.close();
    if (this.streams.size === 0 && this.waiting.length === 0) return;
    const err = this.error ?? new Error('connection closed');
    const all = [...this.waiting, ...this.streams.values()];
    this.waiting = [];
    for (const s of all) s.fail(err);
    this.streams.clear();
  }

  close(): void {
    if (this.dead || this.goingAway) return;
    this.goingAway = true;
    this.frames.goaway(0, H2Error.NO_ERROR);
    const refused = this.waiting;
    this.waiting = [];
    for (const s of refused) s.refused();
    if (this.streams.size === 0) this.end();
  }

  destroy(err?: Error): void {
    if (err !== undefined) this.error ??= err;
    this.socket.destroy();
    this.onClose();
  }
}

function headersOf(fields: readonly HeaderField[]): ResponseHeaders {
  const headers: ResponseHeaders = {};
  for (const [name, value] of fields) {
    const prev = headers[name];
    if (prev === undefined) headers[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else headers[name] = [prev, value];
  }
  return headers;
}

class Stream implements H2ClientStream, InboundOwner {
  id = 0;
  headers: ResponseHeaders | undefined = undefined;
  trailers: ResponseHeaders | undefined = undefined;
  rstCode: number | undefined = undefined;
  error: Error | undefined = undefined;
  closed = false;
  /** The request headers, until the stream opens. */
  block: Buffer | undefined;
  sendWindow = 0;
  /** end() was called: END_STREAM goes with the last queued byte. */
  endQueued = false;
  private localEnded = false;
  /** Request bytes not yet framed: the caller's buffers, the first `queueOffset` bytes of the first sent. */
  private queue: Uint8Array[] = [];
  private queueOffset = 0;
  queued = 0;
  /** The reading half, which also keeps the listeners of every event (h2-inbound.ts). */
  readonly inbound: Inbound;

  constructor(
    private readonly conn: Connection,
    block: Buffer,
    window: number,
  ) {
    this.block = block;
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

  headerBlock(fields: HeaderField[], endStream: boolean): void {
    if (this.closed || this.inbound.remoteEnded) return;
    if (this.headers === undefined) {
      const headers = headersOf(fields);
      const status = headers[':status'];
      // Informational headers (1xx) come before the real ones; gRPC servers send none.
      if (typeof status === 'string' && status.length === 3 && status[0] === '1' && !endStream) return;
      this.headers = headers;
      this.inbound.emit('response', headers);
    } else {
      // After the response headers only trailers may come, and they end the response.
      if (!endStream) {
        this.reset(H2Error.PROTOCOL_ERROR);
        return;
      }
      this.trailers = headersOf(fields);
      this.inbound.emit('trailers', this.trailers);
    }
    if (endStream) this.inbound.remoteEnd();
  }

  received(len: number): void {
    if (!this.inbound.received(len)) this.reset(H2Error.FLOW_CONTROL_ERROR);
    // A response's body comes after its headers.
    else if (this.headers === undefined) this.reset(H2Error.PROTOCOL_ERROR);
  }

  windowUpdate(increment: number): void {
    this.conn.frames.windowUpdate(this.id, increment);
  }

  readEnded(): void {
    if (this.localEnded) {
      this.close();
    } else {
      // The response is complete while the request is still open: for gRPC the call is over. Tell the
      // server to expect no more (RST_STREAM NO_ERROR, as grpc-go's client does) and drop what is queued.
      this.reset(H2Error.NO_ERROR);
    }
  }

  // -- writing

  write(data: Uint8Array): boolean {
    if (this.closed || this.endQueued) return false;
    if (data.length > 0) {
      this.queue.push(data);
      this.queued += data.length;
      if (this.id !== 0) this.conn.wantPump(this);
    }
    if (this.queued > STREAM_HIGH_WATER || this.conn.socketBusy()) {
      this.conn.wantDrain.add(this);
      return false;
    }
    return true;
  }

  end(data?: Uint8Array): void {
    if (this.closed || this.endQueued) return;
    if (data !== undefined && data.length > 0) {
      this.queue.push(data);
      this.queued += data.length;
    }
    this.endQueued = true;
    if (this.id !== 0) this.conn.wantPump(this);
  }

  /** Frame what the windows allow; what is left waits for a WINDOW_UPDATE. */
  pump(): void {
    if (this.id === 0 || this.closed || this.localEnded) return;
    const conn = this.conn;
    while (this.queued > 0) {
      const n = Math.min(this.queued, this.sendWindow, conn.sendWindow, conn.peerMaxFrame);
      if (n <= 0) {
        conn.blocked.add(this);
        this.maybeDrain();
        return;
      }
      // One frame over as many of the caller's buffers as it takes, each sent as it is (or a view of it).
      const fin = this.endQueued && n === this.queued;
      conn.frames.frameHead(DATA, fin ? FLAG_END_STREAM : 0, this.id, n);
      let need = n;
      while (need > 0) {
        const b = this.queue[0]!;
        const avail = b.length - this.queueOffset;
        if (avail <= need) {
          conn.frames.push(this.queueOffset === 0 ? b : b.subarray(this.queueOffset));
          this.queue.shift();
          this.queueOffset = 0;
          need -= avail;
        } else {
          conn.frames.push(b.subarray(this.queueOffset, this.queueOffset + need));
          this.queueOffset += need;
          need = 0;
        }
      }
      this.sendWindow -= n;
      conn.sendWindow -= n;
      this.queued -= n;
      if (fin) {
        conn.blocked.delete(this);
        this.localEnd();
        return;
      }
    }
    conn.blocked.delete(this);
    // An end with nothing left to carry it: an empty DATA frame, which takes no window.
    if (this.endQueued) {
      conn.frames.frameHead(DATA, FLAG_END_STREAM, this.id, 0);
      this.localEnd();
      return;
    }
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

  localEnd(): void {
    this.localEnded = true;
    this.conn.wantDrain.delete(this);
    if (this.inbound.readableEnded) this.close();
  }

  reset(code: number = H2Error.CANCEL): void {
    if (this.closed) return;
    if (this.id !== 0) this.conn.frames.rstStream(this.id, code);
    this.rstCode = code;
    this.close();
  }

  /** The server reset the stream. */
  resetByPeer(code: number): void {
    if (this.closed) return;
    this.rstCode = code;
    this.close();
  }

  /** The server will not take the stream (GOAWAY), or the connection is closing before it opened. */
  refused(): void {
    if (this.closed) return;
    this.rstCode = H2Error.REFUSED_STREAM;
    this.close();
  }

  /** The connection is gone. */
  fail(err: Error): void {
    if (this.closed) return;
    this.error = err;
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.queued = 0;
    this.block = undefined;
    this.conn.streamClosed(this);
    this.inbound.close();
  }
}
