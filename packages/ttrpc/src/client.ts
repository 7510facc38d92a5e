import { connect, type Socket } from 'node:net';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  CanceledError,
  DeadlineExceededError,
  InternalError,
  InvalidArgumentError,
  ResourceExhaustedError,
  UnavailableError,
  type ErrdefsError,
} from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';
import { RequestSchema, ResponseSchema } from '@flotilla/proto/ttrpc/request_pb';
import { createFrameDecoder, encodeFrame, MAX_MESSAGE_LENGTH, MessageType } from './frame.js';
import { toKeyValues, type MetadataInit } from './metadata.js';
import { errorOf, OK } from './status.js';

export interface CallOptions {
  readonly signal?: AbortSignal;
  /** How long the call may take: sent to the server as its deadline and enforced here too. */
  readonly timeoutMs?: number;
  readonly metadata?: MetadataInit;
}

/**
 * One ttrpc connection. Calls share it, each on a stream of its own, and complete in whatever order the
 * server answers. It never reconnects: for a shim, a dropped connection means the shim is gone, and
 * deciding what that means belongs to whoever holds the client (see `done`).
 */
export interface TtrpcClient {
  /** A unary call with an encoded request; resolves with the encoded response. */
  call(service: string, method: string, payload: Uint8Array, opts?: CallOptions): Promise<Uint8Array>;
  /** True once the connection has ended, by either side. */
  readonly closed: boolean;
  /** Resolves when the connection has ended, after every call in flight was failed. */
  readonly done: Promise<void>;
  /** End the connection; calls in flight fail with UnavailableError. */
  close(): void;
}

export interface ClientOptions {
  log?: Logger;
  /** Largest message accepted or sent; ttrpc's 4 MiB unless both sides agree otherwise. */
  maxMessageLength?: number;
}

export interface DialOptions extends ClientOptions {
  /** Give up connecting after this long (containerd allows a shim 100 s; callers usually want less). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The socket path in a shim or containerd address: `unix:///run/x.sock` or a bare path. */
export function socketPathOf(address: string): string {
  if (address.startsWith('unix://')) return address.slice('unix://'.length);
  if (address.includes('://')) throw new InvalidArgumentError(`ttrpc address ${JSON.stringify(address)}: only unix sockets are supported`);
  return address;
}

/** The error every call gets once the connection is gone; containerd's ttrpc.ErrClosed. */
export function closedError(): ErrdefsError {
  return new UnavailableError('ttrpc: closed');
}

interface Pending {
  readonly fullMethod: string;
  resolve(payload: Uint8Array): void;
  reject(err: Error): void;
}

/** Speak ttrpc over a connected socket. */
export function ttrpcClientOn(socket: Socket, opts: ClientOptions = {}): TtrpcClient {
  const max = opts.maxMessageLength ?? MAX_MESSAGE_LENGTH;
  const log = opts.log;
  const pending = new Map<number, Pending>();
  // Client streams are odd and only ever increase; the server refuses a reused id.
  let nextStream = 1;
  let closed = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => { resolveDone = r; });

  const settle = (id: number): Pending | undefined => {
    const p = pending.get(id);
    if (p !== undefined) pending.delete(id);
    return p;
  };

  const decoder = createFrameDecoder({
    frame(f) {
      const p = settle(f.streamId);
      if (p === undefined) {
        // A call we gave up on (timeout, abort) was answered after all.
        log?.debug({ stream: f.streamId, type: f.type }, 'ttrpc: message on an inactive stream dropped');
        return;
      }
      if (f.type !== MessageType.Response) {
        p.reject(new InternalError(`ttrpc: unexpected message type ${f.type} on unary call ${p.fullMethod}`));
        return;
      }
      let res;
      try {
        res = fromBinary(ResponseSchema, f.payload);
      } catch (err) {
        p.reject(new InternalError(`ttrpc: malformed response to ${p.fullMethod}: ${(err as Error).message}`));
        return;
      }
      if (res.status !== undefined && res.status.code !== OK) p.reject(errorOf(res.status, p.fullMethod));
      else p.resolve(res.payload);
    },
    oversized(h) {
      settle(h.streamId)?.reject(new ResourceExhaustedError(`message length ${h.length} exceed maximum message size of ${max}`));
    },
  }, max);

  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  socket.on('error', (err) => log?.debug({ err }, 'ttrpc: connection error'));
  socket.once('close', () => {
    closed = true;
    const failed = [...pending.values()];
    pending.clear();
    for (const p of failed) p.reject(closedError());
    resolveDone();
  });

  return {
    get closed() {
      return closed;
    },
    done,
    close() {
      socket.destroy();
    },
    call(service, method, payload, callOpts = {}) {
      const fullMethod = `/${service}/${method}`;
      if (closed) return Promise.reject(closedError());
      if (callOpts.signal?.aborted) return Promise.reject(new CanceledError(`${fullMethod}: canceled`));
      let frame: Buffer;
      const id = nextStream;
      try {
        const request = create(RequestSchema, {
          service,
          method,
          payload,
          timeoutNano: callOpts.timeoutMs !== undefined ? BigInt(Math.max(0, Math.round(callOpts.timeoutMs))) * 1_000_000n : 0n,
          metadata: toKeyValues(callOpts.metadata),
        });
        frame = encodeFrame(id, MessageType.Request, 0, toBinary(RequestSchema, request), max);
      } catch (err) {
        return Promise.reject(err);
      }
      nextStream += 2;
      return new Promise<Uint8Array>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const signal = callOpts.signal;
        const cleanup = () => {
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        };
        const onAbort = () => {
          if (settle(id)) {
            cleanup();
            reject(new CanceledError(`${fullMethod}: canceled`));
          }
        };
        pending.set(id, {
          fullMethod,
          resolve: (p) => { cleanup(); resolve(p); },
          reject: (e) => { cleanup(); reject(e); },
        });
        if (callOpts.timeoutMs !== undefined) {
          timer = setTimeout(() => {
            if (settle(id)) {
              cleanup();
              reject(new DeadlineExceededError(`${fullMethod}: no answer within ${callOpts.timeoutMs}ms`));
            }
          }, callOpts.timeoutMs);
        }
        signal?.addEventListener('abort', onAbort, { once: true });
        socket.write(frame);
      });
    },
  };
}

/** Connect to a ttrpc server on a Unix socket. */
export function dialTtrpc(address: string, opts: DialOptions = {}): Promise<TtrpcClient> {
  const path = socketPathOf(address);
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let timer: NodeJS.Timeout | undefined;
    const fail = (err: Error) => {
      if (timer !== undefined) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    };
    const onAbort = () => fail(new CanceledError(`dial ${path}: canceled`));
    const onError = (err: NodeJS.ErrnoException) => {
      // ENOENT and ECONNREFUSED both mean nothing serves there (a dead shim leaves its socket file).
      fail(new UnavailableError(`dial ${path}: ${err.message}`, { cause: err }));
    };
    socket.once('error', onError);
    if (opts.timeoutMs !== undefined) timer = setTimeout(() => fail(new DeadlineExceededError(`dial ${path}: timed out after ${opts.timeoutMs}ms`)), opts.timeoutMs);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      if (timer !== undefined) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      resolve(ttrpcClientOn(socket, opts));
    });
  });
}
