import { chmod, mkdir, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { create, fromBinary, toBinary, type DescMethod, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { AlreadyExistsError, DeadlineExceededError, isErrdefs } from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';
import type { Status } from '@flotilla/proto/google/rpc/status_pb';
import { RequestSchema, ResponseSchema, type Request } from '@flotilla/proto/ttrpc/request_pb';
import { createFrameDecoder, encodeFrame, MAX_MESSAGE_LENGTH, MessageType, type Frame } from './frame.js';
import { fromKeyValues, type Metadata } from './metadata.js';
import { okStatus, statusOf, statusWith } from './status.js';

/** What a handler gets beside its request. */
export interface TtrpcCallContext {
  /** Full service name and method, as the client sent them. */
  readonly service: string;
  readonly method: string;
  readonly metadata: Metadata;
  /** Aborted when the client's deadline passes or its connection goes. */
  readonly signal: AbortSignal;
  /** A child of the server's logger for this call. */
  readonly log: Logger;
}

type UnaryKeys<S extends GenServiceMethods> = {
  [K in keyof S]: S[K]['methodKind'] extends 'unary' ? K : never;
}[keyof S];

/** Handlers for a generated service's unary methods; ones left out answer Unimplemented. */
export type TtrpcImplementation<S extends GenServiceMethods> = {
  [K in UnaryKeys<S>]?: (
    request: MessageShape<S[K]['input']>,
    ctx: TtrpcCallContext,
  ) => Promise<MessageInitShape<S[K]['output']>> | MessageInitShape<S[K]['output']>;
};

export interface TtrpcServer {
  register<S extends GenServiceMethods>(service: GenService<S>, implementation: TtrpcImplementation<S>): void;
  /** Serve on a Unix socket (mode 0660). A stale socket file is replaced; a live one is never taken over. */
  listen(path: string): Promise<void>;
  /** Stop accepting; close connections as their calls finish, cutting what is left after `graceMs`. */
  shutdown(graceMs?: number): Promise<void>;
  /** Cut every connection now. */
  close(): void;
}

export interface ServerOptions {
  log: Logger;
  maxMessageLength?: number;
}

type Handler = (request: unknown, ctx: TtrpcCallContext) => unknown;

interface Route {
  readonly method: DescMethod;
  readonly handler: Handler;
}

interface Connection {
  readonly socket: Socket;
  active: number;
  readonly calls: Set<AbortController>;
}

function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/**
 * A ttrpc server for unary methods, as containerd serves its shim-facing services. It enforces the
 * protocol's stream rules (client streams are odd and only increase), answers an unknown service or
 * method with Unimplemented, and skips an oversized message, answering ResourceExhausted on its stream,
 * without dropping the connection.
 */
export function createTtrpcServer(opts: ServerOptions): TtrpcServer {
  const max = opts.maxMessageLength ?? MAX_MESSAGE_LENGTH;
  const log = opts.log;
  const services = new Map<string, Map<string, Route>>();
  const connections = new Set<Connection>();
  let server: Server | undefined;
  let stopping = false;
  let idle: (() => void) | undefined;

  const send = (c: Connection, id: number, status: Status, payload?: Uint8Array) => {
    if (c.socket.destroyed) return;
    let body = toBinary(ResponseSchema, create(ResponseSchema, { status, payload: payload ?? new Uint8Array(0) }));
    if (body.length > max) {
      // Refuse on the stream rather than breaking the connection for every other call on it.
      body = toBinary(ResponseSchema, create(ResponseSchema, {
        status: statusWith('ResourceExhausted', `response message length ${body.length} exceeds maximum message size of ${max}`),
      }));
    }
    c.socket.write(encodeFrame(id, MessageType.Response, 0, body, max));
  };

  const finished = (c: Connection) => {
    c.active--;
    if (stopping && c.active === 0) c.socket.end();
    if (stopping && idle && [...connections].every((x) => x.active === 0)) idle();
  };

  const dispatch = (c: Connection, id: number, req: Request) => {
    const route = services.get(req.service)?.get(req.method);
    if (route === undefined) {
      const what = services.has(req.service) ? `method ${req.method}` : `service ${req.service}`;
      send(c, id, statusWith('NotImplemented', what));
      return;
    }
    let request: unknown;
    try {
      request = fromBinary(route.method.input, req.payload);
    } catch (err) {
      send(c, id, statusWith('Internal', `ttrpc: error unmarshalling payload: ${(err as Error).message}`));
      return;
    }
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    if (req.timeoutNano > 0n) {
      const ms = Number(req.timeoutNano / 1_000_000n);
      timer = setTimeout(() => abort.abort(new DeadlineExceededError(`${req.service}/${req.method}: deadline exceeded`)), ms);
    }
    let callLog: Logger | undefined;
    const ctx: TtrpcCallContext = {
      service: req.service,
      method: req.method,
      metadata: fromKeyValues(req.metadata),
      signal: abort.signal,
      get log() {
        callLog ??= log.child({ ttrpc: `/${req.service}/${req.method}`, stream: id });
        return callLog;
      },
    };
    c.active++;
    c.calls.add(abort);
    void (async () => {
      try {
        const res = await route.handler(request, ctx);
        const out = route.method.output;
        send(c, id, okStatus(), toBinary(out, create(out, res as never)));
      } catch (err) {
        if (isErrdefs(err)) ctx.log.debug({ err }, 'ttrpc call failed');
        else ctx.log.error({ err }, 'ttrpc call failed');
        send(c, id, statusOf(err));
      } finally {
        if (timer !== undefined) clearTimeout(timer);
        c.calls.delete(abort);
        finished(c);
      }
    })();
  };

  const accept = (socket: Socket) => {
    if (stopping) {
      socket.destroy();
      return;
    }
    const c: Connection = { socket, active: 0, calls: new Set() };
    connections.add(c);
    let lastStream = 0;
    const refuse = (id: number, kind: 'InvalidArgument' | 'ResourceExhausted', message: string) => send(c, id, statusWith(kind, message));
    const decoder = createFrameDecoder({
      frame(f: Frame) {
        if (f.streamId % 2 !== 1) {
          refuse(f.streamId, 'InvalidArgument', 'StreamID must be odd for client initiated streams');
          return;
        }
        if (f.type === MessageType.Data) {
          // Every method served here is unary: a data frame never belongs to a stream we keep open.
          refuse(f.streamId, 'InvalidArgument', 'StreamID is no longer active');
          return;
        }
        if (f.type !== MessageType.Request) return; // unknown types are ignored, for forward compatibility
        if (f.streamId <= lastStream) {
          refuse(f.streamId, 'InvalidArgument', 'StreamID cannot be re-used and must increment');
          return;
        }
        lastStream = f.streamId;
        let req: Request;
        try {
          req = fromBinary(RequestSchema, f.payload);
        } catch (err) {
          refuse(f.streamId, 'InvalidArgument', `unmarshal request error: ${(err as Error).message}`);
          return;
        }
        dispatch(c, f.streamId, req);
      },
      oversized(h) {
        refuse(h.streamId, 'ResourceExhausted', `message length ${h.length} exceed maximum message size of ${max}`);
      },
    }, max);
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', (err) => log.debug({ err }, 'ttrpc: connection error'));
    socket.once('close', () => {
      connections.delete(c);
      for (const a of c.calls) a.abort(new Error('ttrpc: client went away'));
      if (stopping && idle && [...connections].every((x) => x.active === 0)) idle();
    });
  };

  return {
    register(service, implementation) {
      if (services.has(service.typeName)) throw new AlreadyExistsError(`ttrpc service ${service.typeName} registered twice`);
      const routes = new Map<string, Route>();
      for (const m of service.methods) {
        const handler = (implementation as Record<string, Handler | undefined>)[m.localName];
        if (m.methodKind !== 'unary' || handler === undefined) continue;
        routes.set(m.name, { method: m, handler });
      }
      services.set(service.typeName, routes);
    },
    async listen(path) {
      await mkdir(dirname(path), { recursive: true, mode: 0o711 });
      if (await socketInUse(path)) throw new AlreadyExistsError(`address ${path} is in use by another process`);
      await rm(path, { force: true });
      const s = createServer(accept);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(path, () => { s.off('error', reject); resolve(); });
      });
      await chmod(path, 0o660);
      server = s;
    },
    async shutdown(graceMs = 5000) {
      stopping = true;
      const closed = new Promise<void>((resolve) => {
        if (server === undefined) resolve();
        else server.close(() => resolve());
      });
      for (const c of connections) if (c.active === 0) c.socket.end();
      if ([...connections].some((c) => c.active > 0)) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise<void>((resolve) => { idle = resolve; }),
          new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); }),
        ]);
        clearTimeout(timer);
      }
      for (const c of connections) c.socket.destroy();
      await closed;
    },
    close() {
      stopping = true;
      server?.close();
      for (const c of connections) c.socket.destroy();
    },
  };
}

