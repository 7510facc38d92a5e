import { FailedPreconditionError, InvalidArgumentError } from '@flotilla/errdefs';
import { defaultPublishBinary } from './publish-binary.js';

/** `[plugins."io.containerd.runtime.v2.task"]`: how shims are started. */
export interface RuntimeConfig {
  /**
   * Extra `KEY=VALUE` environment for every shim (containerd 2.0 keeps this in
   * `[plugins."io.containerd.shim.v1.manager"] env`; here it sits with the runtime that uses it).
   */
  env: string[];
  /** Start shims in a core-scheduling group of their own (SCHED_CORE=1), as containerd's `sched_core`. */
  sched_core: boolean;
  /**
   * Where shims publish their events (their TTRPC_ADDRESS). "" is the gateway's socket path plus
   * ".ttrpc", which is where containerd itself listens for them beside its gRPC socket.
   */
  ttrpc_address: string;
  /** `-publish-binary` for shims; "" is Flotilla's own executable. */
  publish_binary: string;
}

export const defaultRuntimeConfig: RuntimeConfig = {
  env: [],
  sched_core: false,
  ttrpc_address: '',
  publish_binary: '',
};

/** The addresses a shim is told about: the daemon's gRPC socket and the ttrpc socket events go to. */
export interface ShimAddresses {
  /** containerd's `-address` / GRPC_ADDRESS: the gateway, the socket clients use. */
  readonly address: string;
  /** TTRPC_ADDRESS: served by this process, for shims to publish events on. */
  readonly ttrpcAddress: string;
  readonly publishBinary: string;
}

export function shimAddresses(config: RuntimeConfig, peers: Readonly<Record<string, string>>): ShimAddresses {
  const gateway = peers['gateway'];
  if (gateway === undefined || gateway === '') {
    // Shims derive their socket from it and Create needs the container record: nothing works without it.
    throw new FailedPreconditionError('the runtime needs the gateway\'s socket (--peer gateway=SOCKET)');
  }
  return {
    address: gateway,
    ttrpcAddress: config.ttrpc_address !== '' ? config.ttrpc_address : `${gateway}.ttrpc`,
    publishBinary: config.publish_binary !== '' ? config.publish_binary : defaultPublishBinary(),
  };
}

/** The environment the config adds to every shim, checked once at start. */
export function configuredShimEnv(config: RuntimeConfig): string[] {
  const env = [...config.env];
  for (const e of env) {
    if (typeof e !== 'string' || e.indexOf('=') <= 0) throw new InvalidArgumentError(`shim env entry ${JSON.stringify(e)} is not KEY=VALUE`);
  }
  if (config.sched_core) env.push('SCHED_CORE=1');
  return env;
}
