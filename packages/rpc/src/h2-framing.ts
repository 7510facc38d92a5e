import type { Readable } from 'node:stream';
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
 * Read length-prefixed gRPC messages from an HTTP/2 stream, whatever way DATA frames split them.
 * Iterating pulls from the stream, so a slow consumer applies backpressure through HTTP/2 flow control.
 */
export async function* readMessages(stream: Readable, maxBytes: number): AsyncGenerator<Uint8Array> {
  let pending: Buffer[] = [];
  let size = 0;
  let need = 5;
  let inMessage = false;
  const take = (n: number): Buffer => {
    const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, size);
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    pending = rest.length > 0 ? [rest] : [];
    size = rest.length;
    return head;
  };
  // Not `for await (… of stream)`: leaving that loop early (a handler that stops reading, a refused message)
  // destroys the stream, which resets the HTTP/2 stream before the server can send its response or status.
  for await (const chunk of stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    pending.push(chunk);
    size += chunk.length;
    while (size >= need) {
      if (!inMessage) {
        const h = take(5);
        if (h[0] !== 0) throw new ServerError(Status.UNIMPLEMENTED, 'compressed messages are not supported');
        need = h.readUInt32BE(1);
        if (need > maxBytes) throw new ServerError(Status.RESOURCE_EXHAUSTED, `received message larger than max (${need} vs. ${maxBytes})`);
        inMessage = true;
        if (need === 0) {
          inMessage = false;
          need = 5;
          yield new Uint8Array(0);
        }
      } else {
        // Copy out of the shared chunk so the message outlives later reads.
        const m = Uint8Array.prototype.slice.call(take(need));
        inMessage = false;
        need = 5;
        yield m;
      }
    }
  }
  if (inMessage || size > 0) throw new ServerError(Status.INTERNAL, 'stream ended inside a message');
}

/**
 * Read the single message of a unary request. Event listeners rather than an async iterator: on the
 * common path (one small DATA frame) this is most of a unary call's cost, and iterators cost several
 * promise turns per chunk.
 */
export function readOneMessage(stream: Readable, maxBytes: number): Promise<Uint8Array> {
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
