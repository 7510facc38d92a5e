/**
 * The reading half of an HTTP/2 stream, shared by the server's (h2-connection.ts) and the client's
 * (h2-client-connection.ts): DATA handed to 'data' listeners as node's Readable would hand it, 'end' once
 * the peer's END_STREAM and every byte before it are delivered, and the stream's receive window reopened
 * only as its reader consumes data, so a reader that is slow or paused pushes back on the peer.
 *
 * It also keeps the stream's listeners: the stream emits its other events ('close', 'drain', a client's
 * 'response') through it. A stream holds one as a field and says, as an InboundOwner, what differs
 * between the sides: how its WINDOW_UPDATE is sent and what follows 'end'.
 */

type Listener = (arg?: never) => void;

/** What the reading half asks of the stream it belongs to. */
export interface InboundOwner {
  /** Both sides finished, or the stream was reset: nothing more is delivered, no window granted. */
  readonly closed: boolean;
  /** Send the peer a WINDOW_UPDATE of `increment` for this stream. */
  windowUpdate(increment: number): void;
  /** 'end' was emitted and left the stream open: close it if the writing half is done, or as the side requires. */
  readEnded(): void;
}

// A class, not closures: one is made per call on the hot path (see the streams).

export class Inbound {
  /** The peer has sent END_STREAM. */
  remoteEnded = false;
  /** The peer's whole message has been delivered and 'end' emitted. */
  readableEnded = false;
  /**
   * Readable's three states: null until someone reads (data is kept, not dropped, as a Readable keeps it
   * until a 'data' listener or resume()), true while data flows to listeners, false when paused.
   */
  private flowing: boolean | null = null;
  private flushScheduled = false;
  private endPending = false;
  private buffered: Buffer[] = [];
  private recvWindow: number;
  private recvUnacked = 0;
  private listeners: Record<string, Listener[] | undefined> = {};

  constructor(
    private readonly owner: InboundOwner,
    private readonly window: number,
  ) {
    this.recvWindow = window;
  }

  // -- events

  on(event: string, fn: (...args: never[]) => void): void {
    (this.listeners[event] ??= []).push(fn as Listener);
    if (event === 'data' && this.flowing === null) {
      this.flowing = true;
      this.scheduleFlush();
    }
  }

  once(event: string, fn: (...args: never[]) => void): void {
    const wrapped = ((arg?: never) => {
      this.off(event, wrapped);
      (fn as Listener)(arg);
    }) as Listener & { inner?: unknown };
    wrapped.inner = fn;
    this.on(event, wrapped);
  }

  off(event: string, fn: (...args: never[]) => void): void {
    const list = this.listeners[event];
    if (!list) return;
    const i = list.findIndex((l) => l === fn || (l as { inner?: unknown }).inner === fn);
    if (i >= 0) {
      if (list.length === 1) this.listeners[event] = undefined;
      else list.splice(i, 1);
    }
  }

  emit(event: string, arg?: unknown): void {
    const list = this.listeners[event];
    if (!list) return;
    if (list.length === 1) {
      list[0]!(arg as never);
      return;
    }
    for (const l of [...list]) l(arg as never);
  }

  // -- reading

  pause(): void {
    this.flowing = false;
  }

  resume(): void {
    if (this.flowing === true) return;
    this.flowing = true;
    this.scheduleFlush();
  }

  isPaused(): boolean {
    return this.flowing === false;
  }

  /**
   * Hand kept data on in a later turn, as a Readable does: whoever attached 'data' or called resume() may
   * still be attaching its 'end' listener.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || (this.buffered.length === 0 && !this.endPending)) return;
    this.flushScheduled = true;
    process.nextTick(flushInbound, this);
  }

  flushBuffered(): void {
    this.flushScheduled = false;
    while (this.flowing === true && this.buffered.length > 0 && !this.owner.closed) this.consume(this.buffered.shift()!);
    if (this.flowing === true && this.endPending && this.buffered.length === 0) this.emitEnd();
  }

  /**
   * Bytes of a DATA frame counted against this stream's window (the whole frame, padding included). False
   * when the peer sent more than the window allowed: the stream must be reset (FLOW_CONTROL_ERROR).
   */
  received(len: number): boolean {
    this.recvWindow -= len;
    return this.recvWindow >= 0;
  }

  consumedPadding(n: number): void {
    this.grant(n);
  }

  deliver(chunk: Buffer): void {
    if (this.owner.closed) return;
    if (this.flowing !== true || this.buffered.length > 0) {
      this.buffered.push(chunk);
      return;
    }
    this.consume(chunk);
  }

  private consume(chunk: Buffer): void {
    this.grant(chunk.length);
    this.emit('data', chunk);
  }

  /** Re-open the window by what the reader has taken, in steps large enough not to flood the peer. */
  private grant(n: number): void {
    this.recvUnacked += n;
    if (this.remoteEnded || this.owner.closed) return;
    if (this.recvUnacked >= this.window / 4) {
      this.owner.windowUpdate(this.recvUnacked);
      this.recvWindow += this.recvUnacked;
      this.recvUnacked = 0;
    }
  }

  /** The peer's END_STREAM; `already` when `remoteEnded` was set ahead of it (see the server's headerBlock). */
  remoteEnd(already = false): void {
    if (!already) {
      if (this.remoteEnded) return;
      this.remoteEnded = true;
    }
    if (this.flowing !== true || this.buffered.length > 0) {
      this.endPending = true;
      return;
    }
    this.emitEnd();
  }

  private emitEnd(): void {
    this.endPending = false;
    if (this.readableEnded || this.owner.closed) return;
    this.readableEnded = true;
    this.emit('end');
    if (this.owner.closed) return;
    this.owner.readEnded();
  }

  /** The stream is over (its owner already `closed`): drop what is kept, emit 'close', forget every listener. */
  close(): void {
    this.buffered = [];
    this.emit('close');
    this.listeners = {};
  }
}

function flushInbound(r: Inbound): void {
  r.flushBuffered();
}
