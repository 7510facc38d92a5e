import { connect as netConnect } from 'node:net';
import { AbortError } from 'abort-controller-x';
import { ClientError, Metadata, ServerError, Status } from 'nice-grpc-common';
import { readMessages } from './h2-framing.js';
import { MAX_MESSAGE_BYTES } from './h2-server.js';
import { connectH2, H2Error, type H2ClientConnection, type H2ClientStream, type ResponseHeaders } from './h2-client-connection.js';
import { encodeHeaders, type HeaderField } from './hpack.js';

/** What a call carries besides its messages. */
export interface RawCallOptions {
  /** Call metadata, sent as request headers (`-bin` keys base64-encoded, as gRPC does). */
  metadata?: Metadata;
  /** Abort to cancel the call: the stream is reset and the call rejects with an AbortError. */
  signal?: AbortSignal;
}

/**
 * A gRPC client connection to one Unix socket, carrying calls as raw message bytes. The gateway relays
 * most of containerd's API to plugin processes through these: a relayed call is one more hop, and this
 * hop is our own HTTP/2 client (h2-client-connection.ts) and the gRPC framing, nothing more (grpc-js's
 * channel, filter stack and retry layers cost several times the hop itself; see bench/run.ts).
 *
 * The connection is made on the first call and made again by the first call after it closed, so a plugin
 * process that restarts is found at once. A call that cannot reach the socket fails with Unavailable,
 * as gRPC reports a dead backend. Errors are nice-grpc ClientErrors (code, details), like grpc-js's.
 */
export interface H2Channel {
  /** `unix://PATH`. */
  readonly target: string;
  /**
   * One response: to one request (unary), or to a stream of them (client streaming). A call that ends
   * OK with no message or more than one fails with Internal.
   */
  unary(path: string, request: Uint8Array | AsyncIterable<Uint8Array>, opts?: RawCallOptions): Promise<Uint8Array>;
  /**
   * Any call shape: one request or a stream of them; the responses as they come. The iterator ends when
   * the server ends the call with OK and throws its status otherwise.
   */
  stream(path: string, requests: Uint8Array | AsyncIterable<Uint8Array>, opts?: RawCallOptions): AsyncIterable<Uint8Array>;
  /** Close the connection; calls in flight are cancelled, later calls connect again. */
  close(): void;
}

/** Headers of ours; the rest of the metadata goes as the caller gave it. */
const RESERVED = new Set(['content-type', 'te', 'host', 'user-agent', 'grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding']);

/** requestHead's blocks, by path. */
const heads = new Map<string, Buffer>();
/** Paths are a service's methods; a bound all the same, should a caller make up paths. */
const MAX_HEADS = 4096;

/**
 * The request headers every gRPC call to `path` starts with, encoded once: HPACK blocks that never index
 * (encodeHeaders) can be joined, so a call's block is this plus its metadata.
 */
export function requestHead(path: string): Buffer {
  let head = heads.get(path);
  if (head === undefined) {
    if (heads.size >= MAX_HEADS) heads.clear();
    head = encodeHeaders([
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', path],
      [':authority', 'localhost'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
    ]);
    heads.set(path, head);
  }
  return head;
}

function requestHeaders(path: string, metadata: Metadata | undefined): Buffer {
  const head = requestHead(path);
  if (metadata === undefined) return head;
  const fields: HeaderField[] = [];
  for (const [key, values] of metadata) {
    if (RESERVED.has(key) || key.startsWith(':')) continue;
    const vs = values as readonly (string | Uint8Array)[];
    if (key.endsWith('-bin')) {
      fields.push([key, vs.map((v) => Buffer.from(typeof v === 'string' ? Buffer.from(v) : v).toString('base64')).join(',')]);
    } else {
      // One field per value. Values go as latin1, as node:http2 sent them: a relay passes on the bytes
      // its server decoded (as latin1) unchanged.
      for (const v of vs) fields.push([key, String(v)]);
    }
  }
  return fields.length === 0 ? head : Buffer.concat([head, encodeHeaders(fields)]);
}

function decodeMessage(m: string | string[] | undefined): string {
  const s = Array.isArray(m) ? m.join(',') : (m ?? '');
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The call's status from trailers (or from the headers of a trailers-only response); undefined if none. */
function statusOf(path: string, h: ResponseHeaders | undefined): ClientError | null | undefined {
  const raw = h?.['grpc-status'];
  if (raw === undefined) return undefined;
  const code = Number(Array.isArray(raw) ? raw[0] : raw);
  if (code === Status.OK) return null;
  return new ClientError(path, Number.isInteger(code) ? code : Status.UNKNOWN, decodeMessage(h?.['grpc-message']));
}

/** gRPC's mapping of an HTTP status that is not 200 (the response came from something not speaking gRPC). */
export function statusOfHttp(status: number): Status {
  switch (status) {
    case 400: return Status.INTERNAL;
    case 401: return Status.UNAUTHENTICATED;
    case 403: return Status.PERMISSION_DENIED;
    case 404: return Status.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return Status.UNAVAILABLE;
    default: return Status.UNKNOWN;
  }
}

/** grpc-js's reading of an HTTP/2 stream reset (an RST_STREAM code) that came without a status. */
export function statusOfReset(code: number): Status {
  switch (code) {
    case H2Error.REFUSED_STREAM: return Status.UNAVAILABLE;
    case H2Error.CANCEL: return Status.CANCELLED;
    case H2Error.ENHANCE_YOUR_CALM: return Status.RESOURCE_EXHAUSTED;
    case 0xc /* INADEQUATE_SECURITY */: return Status.PERMISSION_DENIED;
    default: return Status.INTERNAL;
  }
}

const httpStatusError = (path: string, status: number): ClientError =>
  new ClientError(path, statusOfHttp(status), `unexpected HTTP status ${status}`);

const resetError = (path: string, code: number): ClientError =>
  new ClientError(path, statusOfReset(code), `stream reset with code ${code}`);

/** A gRPC message's prefix: not compressed, and its length. */
function prefix(length: number): Buffer {
  const p = Buffer.allocUnsafe(5);
  p[0] = 0;
  p.writeUInt32BE(length, 1);
  return p;
}

interface Call {
  readonly stream: H2ClientStream;
  /** Settles when the call is over: null for OK, else the error to report. */
  readonly done: Promise<Error | null>;
  /** End the call from this side for a reason of ours (an oversized message...); that reason is reported. */
  cancel(reason: Error): void;
}

/** A connection and the calls in flight on it: it holds the process open only while it has some. */
interface Connection {
  readonly conn: H2ClientConnection;
  active: number;
}

export function dialH2(socketPath: string): H2Channel {
  const target = `unix://${socketPath}`;
  let current: Connection | undefined;

  const unavailable = (path: string, err: unknown) =>
    new ClientError(path, Status.UNAVAILABLE, `connection to ${target} failed: ${err instanceof Error ? err.message : String(err)}`);

  /** The connection, or a new one once it closed (or the server sent GOAWAY). */
  const connection = (): Connection => {
    if (current !== undefined && !current.conn.closed) return current;
    const conn = connectH2(netConnect(socketPath));
    conn.unref();
    current = { conn, active: 0 };
    return current;
  };

  /** What a call that closed comes to. */
  const outcome = (path: string, stream: H2ClientStream, signal: AbortSignal | undefined): Error | null => {
    if (signal?.aborted) return new AbortError();
    const fromTrailers = statusOf(path, stream.trailers);
    const status = fromTrailers !== undefined ? fromTrailers : statusOf(path, stream.headers);
    if (status !== undefined) return status;
    const http = Number(stream.headers?.[':status'] ?? 0);
    if (http !== 0 && http !== 200) return httpStatusError(path, http);
    // The connection failed or dropped: the backend is not there (any more).
    if (stream.error !== undefined) return unavailable(path, stream.error);
    if (stream.rstCode !== undefined && stream.rstCode !== H2Error.NO_ERROR) return resetError(path, stream.rstCode);
    if (stream.headers === undefined) return unavailable(path, new Error('connection closed'));
    return new ClientError(path, Status.UNKNOWN, 'call ended without a status');
  };

  const start = (path: string, opts: RawCallOptions | undefined): Call => {
    const signal = opts?.signal;
    if (signal?.aborted) throw new AbortError();
    let c: Connection;
    let stream: H2ClientStream;
    try {
      c = connection();
      stream = c.conn.request(requestHeaders(path, opts?.metadata));
    } catch (err) {
      throw unavailable(path, err);
    }
    // The connection holds the process open only while a call is in flight, as grpc-js's does.
    if (c.active++ === 0) c.conn.ref();
    let local: Error | undefined;
    const onAbort = () => stream.reset(H2Error.CANCEL);
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = new Promise<Error | null>((resolve) => {
      stream.on('close', () => {
        signal?.removeEventListener('abort', onAbort);
        if (--c.active === 0) c.conn.unref();
        resolve(local ?? outcome(path, stream, signal));
      });
    });
    const cancel = (reason: Error) => {
      local ??= reason;
      stream.reset(H2Error.CANCEL);
    };
    return { stream, done, cancel };
  };

  /** The request messages, each as its prefix and the caller's bytes (not copied). */
  const send = async (stream: H2ClientStream, requests: Uint8Array | AsyncIterable<Uint8Array>) => {
    if (requests instanceof Uint8Array) {
      stream.write(prefix(requests.length));
      stream.end(requests);
      return;
    }
    try {
      for await (const r of requests) {
        if (stream.closed) return;
        stream.write(prefix(r.length));
        if (!stream.write(r)) {
          await new Promise<void>((resolve) => {
            const go = () => { stream.off('drain', go); stream.off('close', go); resolve(); };
            stream.on('drain', go);
            stream.on('close', go);
          });
        }
      }
      stream.end();
    } catch {
      // The requests failed at their source: the call cannot complete.
      stream.reset(H2Error.CANCEL);
    }
  };

  return {
    target,

    async unary(path, request, opts) {
      const { stream, done, cancel } = start(path, opts);
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_MESSAGE_BYTES + 5) chunks.push(c);
        else cancel(new ClientError(path, Status.RESOURCE_EXHAUSTED, `received message larger than max (${size - 5} vs. ${MAX_MESSAGE_BYTES})`));
      });
      void send(stream, request);
      const err = await done;
      if (err !== null) throw err;
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      if (size < 5 || all.readUInt32BE(1) !== size - 5) {
        throw new ClientError(path, Status.INTERNAL, size < 5 ? 'no response message received' : 'response did not hold exactly one message');
      }
      if (all[0] !== 0) throw new ClientError(path, Status.UNIMPLEMENTED, 'compressed messages are not supported');
      return all.subarray(5);
    },

    async *stream(path, requests, opts) {
      const { stream, done, cancel } = start(path, opts);
      void send(stream, requests);
      const messages = readMessages(stream, MAX_MESSAGE_BYTES);
      try {
        for (;;) {
          let r: IteratorResult<Uint8Array>;
          try {
            r = await messages.next();
          } catch (err) {
            // An oversized or malformed message is ours to report; a stream that ended early reports the
            // status it came with, or its reset.
            if (err instanceof ServerError && err.code !== Status.CANCELLED) cancel(new ClientError(path, err.code, err.details));
            throw (await done) ?? err;
          }
          if (r.done) break;
          yield r.value;
        }
        const err = await done;
        if (err !== null) throw err;
      } finally {
        // The consumer stopped early: the call is cancelled, as grpc-js does.
        if (!stream.closed) stream.reset(H2Error.CANCEL);
        await messages.return?.();
      }
    },

    close() {
      current?.conn.destroy();
      current = undefined;
    },
  };
}
