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
 *
 * Each byte is copied at most once: a message that lies within one DATA chunk is handed out as a view of
 * it (chunks are fresh buffers that nothing writes to again), and one split across chunks is assembled
 * straight into a buffer of its final size. Bulk writes (content, layers) are mostly such bytes.
 */
export async function* readMessages(stream: Readable, maxBytes: number): AsyncGenerator<Uint8Array> {
  const header = Buffer.alloc(5);
  let headerFill = 0;
  let body: Buffer | undefined;
  let bodyFill = 0;
  // Not `for await (… of stream)`: leaving that loop early (a handler that stops reading, a refused message)
  // destroys the stream, which resets the HTTP/2 stream before the server can send its response or status.
  for await (const chunk of stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    let at = 0;
    while (at < chunk.length) {
      if (body === undefined) {
        const n = Math.min(5 - headerFill, chunk.length - at);
        chunk.copy(header, headerFill, at, at + n);
        headerFill += n;
        at += n;
        if (headerFill < 5) break;
        headerFill = 0;
        if (header[0] !== 0) throw new ServerError(Status.UNIMPLEMENTED, 'compressed messages are not supported');
        const need = header.readUInt32BE(1);
        if (need > maxBytes) throw new ServerError(Status.RESOURCE_EXHAUSTED, `received message larger than max (${need} vs. ${maxBytes})`);
        if (need === 0) {
          yield new Uint8Array(0);
          continue;
        }
        if (chunk.length - at >= need) {
          const view = chunk.subarray(at, at + need);
          at += need;
          yield view;
          continue;
        }
        body = Buffer.allocUnsafe(need);
        bodyFill = 0;
      }
      const n = Math.min(body.length - bodyFill, chunk.length - at);
      chunk.copy(body, bodyFill, at, at + n);
      bodyFill += n;
      at += n;
      if (bodyFill === body.length) {
        const m = body;
        body = undefined;
        yield m;
      }
    }
  }
  if (body !== undefined || headerFill > 0) throw new ServerError(Status.INTERNAL, 'stream ended inside a message');
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
