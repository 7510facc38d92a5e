import {
  connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { connect as netConnect } from 'node:net';
import { AbortError } from 'abort-controller-x';
import { ClientError, Metadata, ServerError, Status } from 'nice-grpc-common';
import { frame, readMessages } from './h2-framing.js';
import { MAX_MESSAGE_BYTES } from './h2-server.js';

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
 * hop is node:http2 and the gRPC framing, nothing more (grpc-js's channel, filter stack and retry layers
 * cost several times the hop itself; see bench/run.ts).
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

const { NGHTTP2_CANCEL } = constants;

/** Large enough that a 1 MiB message never waits for a WINDOW_UPDATE; only bytes in flight take memory. */
const STREAM_WINDOW = 4 << 20;
const CONNECTION_WINDOW = 16 << 20;

/** Headers of ours; the rest of the metadata goes as the caller gave it. */
const RESERVED = new Set(['content-type', 'te', 'host', 'user-agent', 'grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding']);

function requestHeaders(path: string, metadata: Metadata | undefined): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    [constants.HTTP2_HEADER_METHOD]: 'POST',
    [constants.HTTP2_HEADER_PATH]: path,
    [constants.HTTP2_HEADER_SCHEME]: 'http',
    [constants.HTTP2_HEADER_AUTHORITY]: 'localhost',
    'content-type': 'application/grpc',
    te: 'trailers',
  };
  if (metadata === undefined) return headers;
  for (const [key, values] of metadata) {
    if (RESERVED.has(key) || key.startsWith(':')) continue;
    const vs = values as readonly (string | Uint8Array)[];
    headers[key] = key.endsWith('-bin')
      ? vs.map((v) => Buffer.from(typeof v === 'string' ? Buffer.from(v) : v).toString('base64')).join(',')
      : vs.length === 1 ? String(vs[0]) : vs.map(String);
  }
  return headers;
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
function statusOf(path: string, h: IncomingHttpHeaders | undefined): ClientError | null | undefined {
  const raw = h?.['grpc-status'];
  if (raw === undefined) return undefined;
  const code = Number(Array.isArray(raw) ? raw[0] : raw);
  if (code === Status.OK) return null;
  return new ClientError(path, Number.isInteger(code) ? code : Status.UNKNOWN, decodeMessage(h?.['grpc-message']));
}

/** gRPC's mapping of an HTTP status that is not 200 (the response came from something not speaking gRPC). */
function httpStatusError(path: string, status: number): ClientError {
  const code = status === 400 ? Status.INTERNAL
    : status === 401 ? Status.UNAUTHENTICATED
    : status === 403 ? Status.PERMISSION_DENIED
    : status === 404 ? Status.UNIMPLEMENTED
    : status === 429 || status === 502 || status === 503 || status === 504 ? Status.UNAVAILABLE
    : Status.UNKNOWN;
  return new ClientError(path, code, `unexpected HTTP status ${status}`);
}

interface Call {
  readonly stream: ClientHttp2Stream;
  /** Settles when the call is over: null for OK, else the error to report. */
  readonly done: Promise<Error | null>;
  /** End the call from this side for a reason of ours (an oversized message...); that reason is reported. */
  cancel(reason: Error): void;
}

/** grpc-js's reading of a stream reset that came without a status. */
function resetError(path: string, code: number): ClientError {
  const status = code === constants.NGHTTP2_REFUSED_STREAM ? Status.UNAVAILABLE
    : code === NGHTTP2_CANCEL ? Status.CANCELLED
    : code === constants.NGHTTP2_ENHANCE_YOUR_CALM ? Status.RESOURCE_EXHAUSTED
    : code === constants.NGHTTP2_INADEQUATE_SECURITY ? Status.PERMISSION_DENIED
    : Status.INTERNAL;
  return new ClientError(path, status, `stream reset with code ${code}`);
}

export function dialH2(socketPath: string): H2Channel {
  const target = `unix://${socketPath}`;
  let session: ClientHttp2Session | undefined;
  /** Calls in flight on each session: a session holds the process open only while it has some. */
  const active = new WeakMap<ClientHttp2Session, number>();
  /** Why a session failed (refused, no such socket...), for the calls it takes down with it. */
  const sessionErrors = new WeakMap<ClientHttp2Session, Error>();

  const unavailable = (path: string, err: unknown) =>
    new ClientError(path, Status.UNAVAILABLE, `connection to ${target} failed: ${err instanceof Error ? err.message : String(err)}`);

  const sessionFor = (): ClientHttp2Session => {
    if (session !== undefined && !session.closed && !session.destroyed) return session;
    const s = connect('http://localhost', {
      createConnection: () => netConnect(socketPath),
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
      maxSessionMemory: 64,
    });
    s.on('connect', () => s.setLocalWindowSize(CONNECTION_WINDOW));
    // A session that ends for any reason is dropped; the next call dials again. Its streams see the
    // error themselves.
    const drop = () => { if (session === s) session = undefined; };
    s.on('error', (err) => {
      sessionErrors.set(s, err);
      drop();
    });
    s.on('goaway', drop);
    s.on('close', drop);
    s.unref();
    session = s;
    return s;
  };

  const start = (path: string, opts: RawCallOptions | undefined): Call => {
    const signal = opts?.signal;
    if (signal?.aborted) throw new AbortError();
    let s: ClientHttp2Session;
    try {
      s = sessionFor();
    } catch (err) {
      throw unavailable(path, err);
    }
    let stream: ClientHttp2Stream;
    try {
      stream = s.request(requestHeaders(path, opts?.metadata), { endStream: false });
    } catch (err) {
      throw unavailable(path, err);
    }
    // The connection holds the process open only while a call is in flight, as grpc-js's does.
    const inFlight = active.get(s) ?? 0;
    active.set(s, inFlight + 1);
    if (inFlight === 0) s.ref();
    let headers: (IncomingHttpHeaders & IncomingHttpStatusHeader) | undefined;
    let trailers: IncomingHttpHeaders | undefined;
    let failure: NodeJS.ErrnoException | undefined;
    let local: Error | undefined;
    stream.once('response', (h) => { headers = h; });
    stream.once('trailers', (t) => { trailers = t; });
    stream.once('error', (err: NodeJS.ErrnoException) => { failure = err; });
    const onAbort = () => stream.close(NGHTTP2_CANCEL);
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = new Promise<Error | null>((resolve) => {
      stream.once('close', () => {
        signal?.removeEventListener('abort', onAbort);
        const left = (active.get(s) ?? 1) - 1;
        active.set(s, left);
        if (left === 0) s.unref();
        if (local !== undefined) return resolve(local);
        if (signal?.aborted) return resolve(new AbortError());
        const fromTrailers = statusOf(path, trailers);
        const status = fromTrailers !== undefined ? fromTrailers : statusOf(path, headers);
        if (status !== undefined) return resolve(status);
        const http = Number(headers?.[constants.HTTP2_HEADER_STATUS] ?? 0);
        if (http !== 0 && http !== 200) return resolve(httpStatusError(path, http));
        if (failure?.code === 'ERR_HTTP2_STREAM_ERROR' && stream.rstCode) return resolve(resetError(path, stream.rstCode));
        // The connection failed or dropped: the backend is not there (any more).
        if (failure !== undefined) return resolve(unavailable(path, failure));
        if (headers === undefined) return resolve(unavailable(path, sessionErrors.get(s) ?? new Error('connection closed')));
        resolve(new ClientError(path, Status.UNKNOWN, 'call ended without a status'));
      });
    });
    const cancel = (reason: Error) => {
      local ??= reason;
      if (!stream.closed) stream.close(NGHTTP2_CANCEL);
    };
    return { stream, done, cancel };
  };

  const send = async (stream: ClientHttp2Stream, requests: Uint8Array | AsyncIterable<Uint8Array>) => {
    if (requests instanceof Uint8Array) {
      stream.end(frame(requests));
      return;
    }
    try {
      for await (const r of requests) {
        if (stream.destroyed) return;
        if (!stream.write(frame(r))) {
          await new Promise<void>((resolve) => {
            const go = () => { stream.off('drain', go); stream.off('close', go); resolve(); };
            stream.on('drain', go);
            stream.on('close', go);
          });
        }
      }
      if (!stream.destroyed) stream.end();
    } catch {
      // The requests failed at their source: the call cannot complete.
      stream.close(NGHTTP2_CANCEL);
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
        if (!stream.closed) stream.close(NGHTTP2_CANCEL);
        await messages.return?.();
      }
    },

    close() {
      session?.destroy();
      session = undefined;
    },
  };
}
