import { isUnavailable, NotImplementedError } from '@flotilla/errdefs';
import { NAMESPACE_KEY_TTRPC, type ShapeOf } from '@flotilla/rpc';
import { Task } from '@flotilla/proto/containerd/task/v2/shim_pb';
import { dialTtrpc, serviceClient, type TtrpcClient, type TtrpcServiceClient } from '@flotilla/ttrpc';
import type { ShimLog } from './shim-log.js';
import type { BootstrapParams } from './bootstrap-params.js';
import type { Bundle } from './bundle.js';
import type { ShimBinary } from './shim-binary.js';

export type TaskApi = TtrpcServiceClient<ShapeOf<typeof Task>>;

/** A running shim that owns one task, and the connection to it. */
export interface Shim {
  readonly id: string;
  readonly namespace: string;
  readonly bundle: Bundle;
  /** `containerd.task.v2.Task` (or v3) on the shim, every call carrying the task's namespace. */
  readonly task: TaskApi;
  readonly client: TtrpcClient;
  /** Its binary's `delete`, for when the shim cannot be asked any more. */
  readonly binary: ShimBinary;
  /** The shim's log relay. */
  readonly log: ShimLog;
  /**
   * Set when the runtime ends the shim on purpose (task delete): its connection closing then is the
   * expected end, not a death to clean up after.
   */
  deleting: boolean;
}

/** True when a call failed because the shim's connection is gone (containerd's ttrpc.ErrClosed). */
export function isShimGone(shim: Shim, err: unknown): boolean {
  return isUnavailable(err) && shim.client.closed;
}

const DIAL_TIMEOUT_MS = 10_000;

/** Connect to a shim where its bootstrap parameters say it listens. */
export async function connectShim(params: BootstrapParams, signal?: AbortSignal): Promise<TtrpcClient> {
  if (params.protocol.toLowerCase() !== 'ttrpc') {
    throw new NotImplementedError(`shim protocol ${JSON.stringify(params.protocol)}: the runtime talks ttrpc to shims`);
  }
  return dialTtrpc(params.address, { timeoutMs: DIAL_TIMEOUT_MS, ...(signal ? { signal } : {}) });
}

export function makeShim(o: {
  bundle: Bundle;
  params: BootstrapParams;
  client: TtrpcClient;
  binary: ShimBinary;
  log: ShimLog;
}): Shim {
  // The v2 and v3 task APIs carry the same messages; only the service name on the wire differs.
  const task = serviceClient(Task, o.client, {
    serviceName: `containerd.task.v${o.params.version}.Task`,
    defaults: { metadata: { [NAMESPACE_KEY_TTRPC]: o.bundle.namespace } },
  });
  return {
    id: o.bundle.id,
    namespace: o.bundle.namespace,
    bundle: o.bundle,
    task,
    client: o.client,
    binary: o.binary,
    log: o.log,
    deleting: false,
  };
}
