import { createServer, type Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Metadata, ServerError, Status, type CallContext } from 'nice-grpc-common';
import type { MethodDefinition } from 'nice-grpc';
import { AbortError } from 'abort-controller-x';
import { toGrpcError } from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';
import { readMessageParts, readMessages, readOneMessage, frame } from './h2-framing.js';
import type { PartsDeserializer } from './definition.js';
import { serveH2, type H2Connection, type H2Stream, type RequestHeaders } from './h2-connection.js';
import { encodeHeaders, type HeaderField } from './hpack.js';

/** containerd raises gRPC's 4 MiB default to 16 MiB both ways; clients such as ctr rely on it. */
export const MAX_MESSAGE_BYTES = 16 << 20;

/** What every handler is given: the call's metadata and cancellation, plus a logger for this call. */
export interface RequestContext {
  readonly log: Logger;
}

export type ServerCallContext = CallContext & RequestContext;

type AnyMethod = MethodDefinition<unknown, unknown, unknown, unknown>;
type Handler = (...args: never[]) => unknown;

export interface RpcServer {
  /** Serve a service: a method definition map (see definitionOf) and its handlers, keyed alike. */
  add(definition: Record<string, AnyMethod>, implementation: object): void;
  /**
   * Answer every method of a service this server does not serve (`/<service>/...`) with Unimplemented and
   * `message`, rather than the generic unknown-method status: for an API that was removed, so that its
   * clients learn what replaced it.
   */
  refuseService(service: string, message: string): void;
  /** Listen on a Unix socket path (the caller prepares the path; see listenUnix). */
  listen(path: string): Promise<void>;
  /** Stop accepting; let calls in flight finish. */
  shutdown(): Promise<void>;
  /** Cut every connection now. */
  forceShutdown(): void;
  /**
   * A count that rises whenever any connection receives bytes (a new call, a message, a window update
   * from a reader). Unchanged between two looks means nothing reached the server in between.
   */
  readonly activity: number;
}

interface Route {
  method: AnyMethod;
  handler: Handler;
}

/** Headers that are transport, not call metadata. */
const reserved = new Set(['content-type', 'te', 'host', 'grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding', 'user-agent', 'grpc-message-type']);

function metadataOf(headers: RequestHeaders): Metadata {
  const md = Metadata();
  for (const [key, value] of Object.entries(headers)) {
    if (key.startsWith(':') || reserved.has(key) || value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    if (key.endsWith('-bin')) {
      for (const v of values) for (const part of v.split(',')) md.append(key, Buffer.from(part, 'base64') as never);
    } else {
      for (const v of values) md.append(key, v as never);
    }
  }
  return md;
}

function headersOf(md: Metadata): HeaderField[] {
  const out: HeaderField[] = [];
  for (const [key, values] of md) {
    out.push([
      key,
      key.endsWith('-bin')
        ? (values as Uint8Array[]).map((v) => Buffer.from(v).toString('base64')).join(',')
        : (values as string[]).join(','),
    ]);
  }
  return out;
}

const RESPONSE: readonly HeaderField[] = [[':status', '200'], ['content-type', 'application/grpc'], ['grpc-accept-encoding', 'identity']];
const STATUS_OK: readonly HeaderField[] = [['grpc-status', '0']];
// Encoded once: most calls send exactly these.
const RESPONSE_BLOCK = encodeHeaders(RESPONSE);
const STATUS_OK_BLOCK = encodeHeaders(STATUS_OK);

const TIMEOUT_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
/** setTimeout's limit (about 24.8 days); a longer delay fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** grpc-timeout: up to 8 digits and a unit. */
function parseTimeout(v: string | string[] | undefined): number | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  return m ? Number(m[1]) * TIMEOUT_UNITS[m[2]!]! : undefined;
}

/**
 * grpc-message is percent-encoded: printable ASCII except '%' travels as is. A space at either end is
 * encoded too: HTTP/2 forbids leading and trailing whitespace in a field value, and nghttp2 (Node's
 * client) silently drops such a field, losing the whole message.
 */
function encodeMessage(s: string): string {
  let out = '';
  const bytes = Buffer.from(s, 'utf8');
  const last = bytes.length - 1;
  bytes.forEach((b, i) => {
    const plain = b >= 0x20 && b <= 0x7e && b !== 0x25 && !(b === 0x20 && (i === 0 || i === last));
    out += plain ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  });
  return out;
}

/**
 * A gRPC server on our own HTTP/2 (see h2-connection.ts). grpc-js's server spends about twice containerd's
 * CPU per call in its own layers, and node:http2 alone more than containerd's whole server; this does only
 * what the protocol needs (length-prefixed messages, deadlines, metadata, status trailers, cancellation).
 * Compression is not offered (containerd's clients do not ask for it) and a compressed request is refused.
 */
export interface RpcServerOptions {
  /**
   * Called before every answer leaves (each response message, and the final status): a promise holds the
   * answer back until it settles, undefined lets it go at once. The gateway makes its metadata writes
   * durable here, so a client never hears of a change a crash could still undo.
   */
  readonly beforeAnswer?: () => Promise<void> | undefined;
}

export function createRpcServer(root: Logger, opts: RpcServerOptions = {}): RpcServer {
  const beforeAnswer = opts.beforeAnswer;
  const routes = new Map<string, Route>();
  const refused = new Map<string, string>();
  const connections = new Set<H2Connection>();
  let activity = 0;
  const server: Server = createServer((socket) => {
    socket.on('data', () => { activity++; });
    const c = serveH2(socket, (stream) => void handle(stream));
    connections.add(c);
    void c.closed.then(() => connections.delete(c));
  });

  async function handle(stream: H2Stream): Promise<void> {
    const headers = stream.headers;
    const path = (headers[':path'] as string | undefined) ?? '';
    const start = performance.now();
    let child: Logger | undefined;
    const log = () => (child ??= root.child({ method: path }));
    const route = routes.get(path);
    // Most calls never look at their signal or metadata; build them on first use.
    let controller: AbortController | undefined;
    let canceled = false;
    const abort = () => { canceled = true; controller?.abort(); };
    let finished = false;
    let responded = false;
    // Response header and trailer metadata, made only if a handler touches them.
    let header: Metadata | undefined;
    let trailer: Metadata | undefined;
    stream.once('close', () => {
      if (!finished) abort();
    });

    const respondHeaders = () => {
      if (responded) return;
      responded = true;
      stream.respond(header ? [...RESPONSE, ...headersOf(header)] : RESPONSE_BLOCK);
    };
    const finish = (code: Status, message: string) => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      if (stream.closed) return;
      const fields: readonly HeaderField[] = code === Status.OK && !message ? STATUS_OK : [['grpc-status', String(code)], ['grpc-message', encodeMessage(message)]];
      const status = trailer ? [...fields, ...headersOf(trailer)] : fields;
      if (!responded) {
        // Trailers-only: the whole answer in one HEADERS frame.
        responded = true;
        stream.respond([RESPONSE[0]!, RESPONSE[1]!, ...(header ? headersOf(header) : []), ...status], true);
        return;
      }
      stream.end(status === STATUS_OK ? STATUS_OK_BLOCK : status);
    };
    const logDone = (code: Status) => {
      if (root.isLevelEnabled('debug')) log().debug({ code: Status[code], ms: Math.round((performance.now() - start) * 1000) / 1000 }, 'rpc');
    };

    let timer: NodeJS.Timeout | undefined;
    if (!route) {
      finish(Status.UNIMPLEMENTED, refused.get(path.slice(1, path.indexOf('/', 1))) ?? `unknown method ${path}`);
      stream.resume();
      logDone(Status.UNIMPLEMENTED);
      return;
    }
    const encoding = headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      finish(Status.UNIMPLEMENTED, `grpc-encoding ${String(encoding)} is not supported`);
      stream.resume();
      return;
    }
    const timeoutMs = parseTimeout(headers['grpc-timeout']);
    // A deadline beyond setTimeout's range is left to the client: arming it would expire the call at once.
    if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
      timer = setTimeout(() => {
        finish(Status.DEADLINE_EXCEEDED, 'deadline exceeded');
        abort();
      }, timeoutMs);
    }

    const { method, handler } = route;
    const fromParts = (method as Partial<PartsDeserializer<unknown>>).requestDeserializeParts;
    const requests = method.requestStream
      ? (async function* () {
        try {
          if (fromParts !== undefined) {
            for await (const parts of readMessageParts(stream, MAX_MESSAGE_BYTES)) yield fromParts(parts);
          } else {
            for await (const bytes of readMessages(stream, MAX_MESSAGE_BYTES)) yield method.requestDeserialize(bytes);
          }
        } finally {
          // The handler stopped reading (or a message was refused): discard the rest so the stream can close.
          stream.resume();
        }
      })()
      : undefined;
    const send = async (msg: unknown) => {
      // The client is gone or the deadline passed: stop pulling from the handler (and let its finally run)
      // rather than write to a closed stream, which would wait forever for a 'drain' or 'close' already past.
      if (canceled) throw new AbortError();
      if (finished) return;
      const held = beforeAnswer?.();
      if (held !== undefined) await held;
      respondHeaders();
      if (!stream.write(frame(method.responseSerialize(msg))) && !stream.closed) {
        await new Promise<void>((resolve) => {
          const done = () => { stream.off('drain', done); stream.off('close', done); resolve(); };
          stream.on('drain', done);
          stream.on('close', done);
        });
      }
    };
    let metadata: Metadata | undefined;
    const context: ServerCallContext = {
      get metadata() { return (metadata ??= metadataOf(headers)); },
      peer: 'unix',
      get header() { return (header ??= Metadata()); },
      sendHeader: respondHeaders,
      get trailer() { return (trailer ??= Metadata()); },
      get signal() {
        if (!controller) {
          controller = new AbortController();
          if (canceled) controller.abort();
        }
        return controller.signal;
      },
      get log() { return log(); },
    };

    let code = Status.OK;
    try {
      const one = async () => method.requestDeserialize(await readOneMessage(stream, MAX_MESSAGE_BYTES));
      if (method.requestStream && method.responseStream) {
        for await (const res of (handler as (r: AsyncIterable<unknown>, c: ServerCallContext) => AsyncIterable<unknown>)(requests!, context)) await send(res);
      } else if (method.requestStream) {
        await send(await (handler as (r: AsyncIterable<unknown>, c: ServerCallContext) => Promise<unknown>)(requests!, context));
      } else if (method.responseStream) {
        const req = await one();
        for await (const res of (handler as (r: unknown, c: ServerCallContext) => AsyncIterable<unknown>)(req, context)) await send(res);
      } else {
        const req = await one();
        const res = await (handler as (r: unknown, c: ServerCallContext) => Promise<unknown>)(req, context);
        const held = beforeAnswer?.();
        if (held !== undefined) await held;
        if (!finished) {
          // One response: headers, the message and the end of the stream in as few writes as possible.
          respondHeaders();
          finished = true;
          if (timer) clearTimeout(timer);
          stream.end(trailer ? [...STATUS_OK, ...headersOf(trailer)] : STATUS_OK_BLOCK, frame(method.responseSerialize(res)));
        }
      }
      if (!finished) {
        // A streaming handler may have changed something after its last message.
        const held = beforeAnswer?.();
        if (held !== undefined) await held;
      }
      finish(Status.OK, '');
    } catch (err) {
      // Once the call is canceled nobody hears its status, and whatever the handler threw (an AbortError, a
      // write to the closed stream, a request stream cut short) follows from the cancellation.
      if (canceled) {
        code = Status.CANCELLED;
        finish(Status.CANCELLED, 'call canceled');
      } else {
        const mapped = err instanceof ServerError ? err : toGrpcError(err);
        code = mapped.code;
        if (!(err instanceof ServerError) && code === Status.UNKNOWN) log().error({ err }, 'unexpected error');
        finish(mapped.code, mapped.details);
      }
    } finally {
      logDone(code);
    }
  }

  return {
    get activity() {
      return activity;
    },
    add(definition, implementation) {
      for (const [name, method] of Object.entries(definition)) {
        const handler = (implementation as Record<string, unknown>)[name];
        if (typeof handler !== 'function') throw new TypeError(`no handler for ${method.path}`);
        routes.set(method.path, { method, handler: handler.bind(implementation) as Handler });
      }
    },
    refuseService(service, message) {
      refused.set(service, message);
    },
    listen(path) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => { server.off('error', reject); resolve(); });
      });
    },
    shutdown() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        for (const c of connections) c.close();
      });
    },
    forceShutdown() {
      for (const c of connections) c.destroy();
      server.close();
    },
  };
}
