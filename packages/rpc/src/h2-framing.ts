import { ServerError, Status } from 'nice-grpc-common';

/** A gRPC message on the wire: a compressed flag (0), a big-endian u32 length, the bytes. */
export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/**
 * What the message readers need of a stream: Readable's events and flow control. A node Readable is one;
 * so is a request stream of our HTTP/2 server.
 */
export interface MessageSource {
  on(event: 'data', fn: (chunk: Buffer) => void): unknown;
  on(event: 'end' | 'close', fn: () => void): unknown;
  on(event: 'error', fn: (err: Error) => void): unknown;
  once(event: 'end' | 'close', fn: () => void): unknown;
  off(event: 'data', fn: (chunk: Buffer) => void): unknown;
  off(event: 'end' | 'close', fn: () => void): unknown;
  off(event: 'error', fn: (err: Error) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  isPaused(): boolean;
  readonly readableEnded: boolean;
}

/** Messages parsed ahead of the consumer before the stream is paused (HTTP/2 flow control takes over). */
const READ_AHEAD = 4;

/**
 * Read length-prefixed gRPC messages from an HTTP/2 stream, whatever way DATA frames split them.
 *
 * Chunks are taken with 'data' events and parsed as they come; the consumer awaits whole messages. A bulk
 * write arrives as 64 DATA frames per MiB, so per-chunk promise turns (an async iterator over the stream)
 * were most of a relay's CPU. Each byte is copied at most once: a message that lies within one chunk is a
 * view of it (Node reads each socket chunk into a new buffer and never reuses it), one split across
 * chunks is assembled straight into a buffer of its final size. Past READ_AHEAD parsed messages the
 * stream is paused, so a slow consumer still applies backpressure.
 *
 * Stopping early (a handler that returns, a refused message) leaves the stream open: the server still has
 * to send its response or status on it. Unread input is then drained and dropped.
 */
export function readMessages(stream: MessageSource, maxBytes: number): AsyncIterableIterator<Uint8Array> {
  return readFramed<Uint8Array>(stream, maxBytes, assemble);
}

/**
 * Like readMessages, but each message comes as the pieces of the chunks it arrived in (views, in order,
 * none empty unless the message is), never copied. For a consumer that only passes the bulk of a message
 * on: assembling a 1 MiB message from 64 KiB socket reads costs a copy and a fresh 1 MiB buffer, whose
 * first-touch page faults cost more than the copy.
 */
export function readMessageParts(stream: MessageSource, maxBytes: number): AsyncIterableIterator<readonly Uint8Array[]> {
  return readFramed<readonly Uint8Array[]>(stream, maxBytes, (pieces) => pieces);
}

/** One message from its pieces, copied once into a buffer of its final size (a single piece is kept as is). */
function assemble(pieces: Uint8Array[], size: number): Uint8Array {
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, size);
}

function readFramed<T>(stream: MessageSource, maxBytes: number, complete: (pieces: Uint8Array[], size: number) => T): AsyncIterableIterator<T> {
  const ready: T[] = [];
  let failure: unknown;
  let ended = false;
  let stopped = false;
  let wake: (() => void) | undefined;
  const header = Buffer.alloc(5);
  let headerFill = 0;
  // The message being read: its pieces so far, how many bytes they hold, how many it needs.
  let pieces: Uint8Array[] | undefined;
  let fill = 0;
  let need = 0;

  const signal = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const detach = () => {
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('error', onError);
    stream.off('close', onClose);
  };
  const fail = (err: unknown) => {
    failure ??= err;
    detach();
    stream.resume();
    signal();
  };
  const onData = (chunk: Buffer) => {
    let at = 0;
    while (at < chunk.length) {
      if (pieces === undefined) {
        const n = Math.min(5 - headerFill, chunk.length - at);
        chunk.copy(header, headerFill, at, at + n);
        headerFill += n;
        at += n;
        if (headerFill < 5) break;
        headerFill = 0;
        if (header[0] !== 0) return fail(new ServerError(Status.UNIMPLEMENTED, 'compressed messages are not supported'));
        need = header.readUInt32BE(1);
        if (need > maxBytes) return fail(new ServerError(Status.RESOURCE_EXHAUSTED, `received message larger than max (${need} vs. ${maxBytes})`));
        if (need === 0) {
          ready.push(complete([new Uint8Array(0)], 0));
          continue;
        }
        pieces = [];
        fill = 0;
      }
      const n = Math.min(need - fill, chunk.length - at);
      pieces.push(chunk.subarray(at, at + n));
      fill += n;
      at += n;
      if (fill === need) {
        ready.push(complete(pieces, need));
        pieces = undefined;
      }
    }
    if (ready.length >= READ_AHEAD) stream.pause();
    signal();
  };
  const onEnd = () => {
    if (pieces !== undefined || headerFill > 0) return fail(new ServerError(Status.INTERNAL, 'stream ended inside a message'));
    ended = true;
    detach();
    signal();
  };
  const onError = (err: Error) => fail(err);
  // A stream destroyed before its end (the client went away): no more messages will come.
  const onClose = () => { if (!ended) fail(new ServerError(Status.CANCELLED, 'call canceled')); };
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('error', onError);
  stream.on('close', onClose);

  const iterator: AsyncIterableIterator<T> = {
    async next(): Promise<IteratorResult<T>> {
      for (;;) {
        if (stopped) return { value: undefined, done: true };
        if (ready.length > 0) {
          const m = ready.shift()!;
          if (ready.length < READ_AHEAD && stream.isPaused() && !ended && failure === undefined) stream.resume();
          return { value: m, done: false };
        }
        if (failure !== undefined) throw failure;
        if (ended) return { value: undefined, done: true };
        if (stream.isPaused()) stream.resume();
        await new Promise<void>((resolve) => { wake = resolve; });
      }
    },
    async return(): Promise<IteratorResult<T>> {
      stopped = true;
      ready.length = 0;
      detach();
      // Drop what the client still sends so the stream can finish.
      stream.resume();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() { return iterator; },
  };
  return iterator;
}

/**
 * Read the single message of a unary request. Event listeners rather than an async iterator: on the
 * common path (one small DATA frame) this is most of a unary call's cost, and iterators cost several
 * promise turns per chunk.
 */
export function readOneMessage(stream: MessageSource, maxBytes: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (err: Error) => {
      stream.off('data', onData);
      stream.resume();
      reject(err);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > maxBytes + 5) {
        fail(new ServerError(Status.RESOURCE_EXHAUSTED, `received message larger than max (${size - 5} vs. ${maxBytes})`));
        return;
      }
      chunks.push(c);
    };
    stream.on('data', onData);
    stream.once('end', () => {
      if (size > maxBytes + 5) return;
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      if (size < 5) return reject(new ServerError(Status.INTERNAL, 'no request message received'));
      if (all[0] !== 0) return reject(new ServerError(Status.UNIMPLEMENTED, 'compressed messages are not supported'));
      const len = all.readUInt32BE(1);
      if (len !== size - 5) {
        return reject(new ServerError(Status.INTERNAL, len < size - 5 ? 'too many request messages received' : 'stream ended inside a message'));
      }
      resolve(all.subarray(5));
    });
    // Only build the error if the call really ends early: a stack trace per call is measurable here.
    stream.once('close', () => { if (!stream.readableEnded) reject(new ServerError(Status.CANCELLED, 'call canceled')); });
  });
}
