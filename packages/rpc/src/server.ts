import { chmod, mkdir, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createServer, ServerError, Status, type CallContext, type Server, type ServerMiddlewareCall } from 'nice-grpc';
import { isAbortError } from 'abort-controller-x';
import { toGrpcError, AlreadyExistsError } from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';

/** containerd raises gRPC's 4 MiB default to 16 MiB both ways; clients such as ctr rely on it. */
export const MAX_MESSAGE_BYTES = 16 << 20;

export interface RequestContext {
  /** A child of the service logger carrying the method, for this one call. */
  log: Logger;
}

/**
 * Every call gets a child logger and, on the way out, containerd's gRPC code for whatever was thrown; the
 * handlers themselves never see gRPC codes. One debug line per RPC, with its duration and outcome.
 */
function observe(root: Logger) {
  return async function* middleware<Req, Res>(
    call: ServerMiddlewareCall<Req, Res, RequestContext>,
    context: CallContext,
  ) {
    const log = root.child({ method: call.method.path });
    const start = performance.now();
    let code = Status.OK;
    try {
      return yield* call.next(call.request, { ...context, log });
    } catch (err) {
      if (isAbortError(err)) {
        code = Status.CANCELLED;
        throw err;
      }
      const mapped = toGrpcError(err);
      code = mapped.code;
      if (!(err instanceof ServerError) && mapped.code === Status.UNKNOWN) log.error({ err }, 'unexpected error');
      throw mapped;
    } finally {
      if (log.isLevelEnabled('debug')) {
        log.debug({ code: Status[code], ms: Math.round((performance.now() - start) * 1000) / 1000 }, 'rpc');
      }
    }
  };
}

export type RpcServer = Server<RequestContext>;

export function createRpcServer(log: Logger): RpcServer {
  return createServer({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  }).use(observe(log));
}

/** True when something accepts connections on the socket path. */
function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/**
 * Listen on a Unix socket, mode 0660 like containerd's. A stale socket file left by a crashed process is
 * removed; a live one is never stolen.
 */
export async function listenUnix(server: Server<never> | RpcServer, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o711 });
  if (await socketInUse(path)) throw new AlreadyExistsError(`address ${path} is in use by another process`);
  await rm(path, { force: true });
  await server.listen(`unix://${path}`);
  await chmod(path, 0o660);
}
