import { connect, type Socket } from 'node:net';
import { ClientError, Status } from 'nice-grpc-common';
import {
  connectH2,
  encodeHeaders,
  H2Error,
  type H2ClientConnection,
  type H2ClientStream,
  type ResponseHeaders,
} from '@flotilla/rpc/h2-client-connection';
import type { WriteContentResponse } from '@flotilla/proto/containerd/services/content/v1/content_pb';
import { fromGrpcError } from '@flotilla/errdefs';
import { setSendBuffer } from '@flotilla/native';
import { requestHead, statusOfHttp, statusOfReset } from '@flotilla/rpc/client';
import { encodeWriteRequest, framePlainWrite } from './write-request-codec.js';
import { decodeWriteResponse } from './write-response-codec.js';
import type { WriteTransport } from './write-transport.js';

const PATH = '/containerd.services.content.v1.Content/Write';
/** The request headers of every Write call but its metadata, encoded once. */
const HEAD = Buffer.concat([requestHead(PATH), encodeHeaders([['user-agent', 'flotilla-content-proxy']])]);
/**
 * The relay socket's send buffer: more than two 1 MiB WRITEs (what ctr and the CRI send), so each is handed
 * to the kernel in one write. With the default 208 KiB a relayed layer left in bursts, each waiting for the
 * socket to drain and this event loop to come back to it.
 */
const SEND_BUFFER = 2 << 20;
/** An idle connection is closed after this long; the next Write dials again. */
const IDLE_MS = 30_000;

/**
 * Write calls on a bare HTTP/2 connection to a Unix socket (@flotilla/rpc's own client, see
 * h2-client-connection.ts). gRPC's client copies every message into a fresh frame buffer; for an ingest
 * that is a second copy of every byte and most of the proxy's CPU. Here a WRITE goes out as a small
 * prefix plus the caller's own bytes, uncopied, in as few DATA frames as the server allows. The protocol
 * is the plain gRPC one our server and containerd's speak: length-prefixed messages, status in the trailers.
 */
export interface H2WriteDialer {
  /**
   * A Write call with `metadata` as its extra headers. The headers are encoded once per metadata object,
   * which is taken not to change (the proxy passes the same one for every writer).
   */
  open(metadata: Readonly<Record<string, string>>): WriteTransport;
}

export function h2WriteDialer(socketPath: string): H2WriteDialer {
  /** The connection and how many calls it carries; a dead one is replaced, its calls finish on their own. */
  let current: { conn: H2ClientConnection; active: number } | undefined;
  /** Each metadata object's request headers, encoded once: the proxy opens every writer with the same one. */
  const blocks = new WeakMap<object, Buffer>();

  const connection = () => {
    if (current !== undefined && !current.conn.closed) return current;
    const socket = connect(socketPath);
    socket.once('connect', () => enlargeSendBuffer(socket));
    // Windows as large as our server's (the default), so a 1 MiB message is never held back by flow control.
    const conn = connectH2(socket);
    conn.unref();
    const entry = { conn, active: 0 };
    // Idle: no bytes either way for IDLE_MS. The timer does not hold the process open.
    socket.setTimeout(IDLE_MS, () => { if (entry.active === 0) conn.close(); });
    current = entry;
    return entry;
  };

  const headersFor = (metadata: Readonly<Record<string, string>>): Buffer => {
    let block = blocks.get(metadata);
    if (block === undefined) {
      block = Buffer.concat([HEAD, encodeHeaders(Object.entries(metadata).map(([k, v]) => [k.toLowerCase(), v] as const))]);
      blocks.set(metadata, block);
    }
    return block;
  };

  return {
    open(metadata) {
      const entry = connection();
      const stream = entry.conn.request(headersFor(metadata));
      // Keep the process alive while a call is open, and only then.
      if (entry.active++ === 0) entry.conn.ref();
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        if (--entry.active === 0) entry.conn.unref();
      };
      return callOver(stream, release);
    },
  };
}

/**
 * A larger send buffer for a connected socket (SEND_BUFFER). Node has no call for it on a stream socket, so
 * the descriptor comes from the socket's handle; without one (a socket Node did not make from a descriptor
 * it owns) the default stays, which is only slower.
 */
function enlargeSendBuffer(socket: Socket): void {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return;
  try {
    setSendBuffer(fd, SEND_BUFFER);
  } catch {
    // Not a socket after all, or closed meanwhile: the default buffer works.
  }
}

/** grpc-message is percent-encoded. */
function decodeMessage(v: unknown): string {
  if (typeof v !== 'string') return '';
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

function callOver(stream: H2ClientStream, release: () => void): WriteTransport {
  const responses: WriteContentResponse[] = [];
  let waiter: { resolve: (r: WriteContentResponse | undefined) => void; reject: (e: unknown) => void } | undefined;
  /** Set once the call is over: undefined result for a clean end, or the error. */
  let outcome: { error?: unknown } | undefined;
  let status: { code: Status; details: string } | undefined;
  let pending: Buffer | undefined;
  let ended = false;

  const settle = () => {
    if (waiter === undefined) return;
    const w = waiter;
    if (responses.length > 0) {
      waiter = undefined;
      w.resolve(responses.shift());
    } else if (outcome !== undefined) {
      waiter = undefined;
      if (outcome.error !== undefined) w.reject(outcome.error);
      else w.resolve(undefined);
    }
  };
  const finish = (code: Status, details: string) => {
    if (outcome !== undefined) return;
    outcome = code === Status.OK ? {} : { error: fromGrpcError(new ClientError(PATH, code, details)) };
    release();
    settle();
  };
  const statusFrom = (headers: ResponseHeaders) => {
    const raw = headers['grpc-status'];
    if (raw === undefined) return;
    const code = Number(Array.isArray(raw) ? raw[0] : raw);
    status = { code: Number.isInteger(code) ? code : Status.UNKNOWN, details: decodeMessage(headers['grpc-message']) };
  };

  stream.on('response', (headers) => {
    const http = Number(headers[':status']);
    if (http !== 200) {
      status = { code: statusOfHttp(http), details: `unexpected HTTP status ${http}` };
      return;
    }
    // Trailers-only: the status came with the headers.
    statusFrom(headers);
  });
  stream.on('trailers', (trailers) => statusFrom(trailers));
  stream.on('data', (chunk: Buffer) => {
    pending = pending === undefined || pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 5) {
      const len = pending.readUInt32BE(1);
      if (pending.length < 5 + len) break;
      if (pending[0] !== 0) {
        finish(Status.INTERNAL, 'compressed messages are not supported');
        stream.reset(H2Error.CANCEL);
        return;
      }
      try {
        responses.push(decodeWriteResponse(pending.subarray(5, 5 + len)));
      } catch (err) {
        finish(Status.INTERNAL, `bad response: ${(err as Error).message}`);
        stream.reset(H2Error.CANCEL);
        return;
      }
      pending = pending.subarray(5 + len);
    }
    settle();
  });
  // The server's side ended: the call is over even if ours is still open (a server that fails the first
  // message answers at once), so settle now. The connection closes a stream still open on our side (an
  // RST_STREAM NO_ERROR); one we ended already (with the COMMIT) closes as it is.
  stream.on('end', () => finish(status?.code ?? Status.INTERNAL, status?.details ?? 'stream ended without a status'));
  stream.on('close', () => {
    if (status !== undefined) return finish(status.code, status.details);
    if (stream.error !== undefined) return finish(Status.UNAVAILABLE, stream.error.message);
    if (stream.rstCode !== undefined && stream.rstCode !== H2Error.NO_ERROR) {
      return finish(statusOfReset(stream.rstCode), `stream reset with code ${stream.rstCode}`);
    }
    finish(Status.INTERNAL, 'stream closed without a status');
  });

  return {
    send(req, last) {
      if (outcome !== undefined || ended) return; // the error surfaces in next()
      if (last === true) ended = true;
      if ('write' in req) {
        // The prefix and every piece of the data, uncopied: the connection frames them together.
        const parts = framePlainWrite(req.write);
        for (let i = 0; i < parts.length - 1; i++) stream.write(parts[i]!);
        if (last === true) stream.end(parts.at(-1));
        else stream.write(parts.at(-1)!);
      } else {
        const body = encodeWriteRequest(req.request);
        const framed = Buffer.allocUnsafe(5 + body.length);
        framed[0] = 0;
        framed.writeUInt32BE(body.length, 1);
        framed.set(body, 5);
        if (last === true) stream.end(framed);
        else stream.write(framed);
      }
    },
    next() {
      if (responses.length > 0) return Promise.resolve(responses.shift());
      if (outcome !== undefined) return outcome.error !== undefined ? Promise.reject(outcome.error) : Promise.resolve(undefined);
      return new Promise((resolve, reject) => { waiter = { resolve, reject }; });
    },
    end() {
      if (ended) return;
      ended = true;
      stream.end();
    },
  };
}
