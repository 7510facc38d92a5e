import { join } from 'node:path';
import { Health } from '@flotilla/proto/grpc/health/v1/health_pb';
import { Introspection } from '@flotilla/proto/containerd/services/introspection/v1/introspection_pb';
import type { Logger } from '@flotilla/log';
import { createHealth, createRpcServer, definitionOf, listenUnix, ServingStatus, type RpcServer } from '@flotilla/rpc';
import { loadPlugins, type LoadedPlugin } from './loader.js';
import { createIntrospectionService, loadOrCreateUuid } from './introspection.js';
import type { Registration } from './registration.js';
import { reclaimMemoryWhenIdle, type ReclaimedMemory } from './idle-memory.js';
import { warmUpPlugins } from './warm-up.js';
import { PluginType } from './types.js';

/**
 * What a plugin of type io.containerd.grpc.v1 returns from init: something that adds one gRPC service to
 * the process's server. `name` is the full service name, so health can report it.
 */
export interface GrpcService {
  readonly name: string;
  register(server: RpcServer): void;
}

function isGrpcService(x: unknown): x is GrpcService {
  return typeof x === 'object' && x !== null && typeof (x as GrpcService).register === 'function' &&
    typeof (x as GrpcService).name === 'string';
}

export interface ProcessOptions {
  /** The service name (`content`, `snapshotter-overlay`, ...), used in logs and the uuid path. */
  name: string;
  registrations: readonly Registration[];
  /** Unix socket path to serve on. */
  address: string;
  root: string;
  state: string;
  config?: Readonly<Record<string, unknown>>;
  disabled?: readonly string[];
  /** Other processes' sockets by name, for plugins that call them (InitContext.peers). */
  peers?: Readonly<Record<string, string>>;
  /** Give memory back once the process is idle (see reclaimMemoryWhenIdle); without it, never. */
  reclaimMemory?: () => ReclaimedMemory;
  /** Run the plugins' warm-ups (Registration.warmUp) before serving, in STATE/warm-up.NAME. */
  warmUp?: boolean;
  log: Logger;
}

export interface PluginProcess {
  readonly plugins: readonly LoadedPlugin[];
  readonly address: string;
  /** Stop accepting calls, let running ones finish for up to `graceMs`, then cut them. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Host one service's plugins in this process: load them in order, serve every gRPC plugin plus health and
 * introspection (of this process's own plugins, for debugging it alone) on a Unix socket.
 */
export async function startPluginProcess(opts: ProcessOptions): Promise<PluginProcess> {
  const log = opts.log;
  const plugins = await loadPlugins(opts.registrations, {
    root: opts.root,
    state: opts.state,
    log,
    ...(opts.config ? { config: opts.config } : {}),
    ...(opts.disabled ? { disabled: opts.disabled } : {}),
    ...(opts.peers ? { peers: opts.peers } : {}),
  });
  const server = createRpcServer(log);
  const health = createHealth();
  for (const p of plugins) {
    if (p.type !== PluginType.GRPC || p.instance === undefined) continue;
    if (!isGrpcService(p.instance)) {
      log.error({ plugin: `${p.type}.${p.id}` }, 'grpc plugin returned no service; not served');
      continue;
    }
    p.instance.register(server);
    health.set(p.instance.name, ServingStatus.SERVING);
  }
  const uuid = await loadOrCreateUuid(join(opts.root, 'uuid'));
  // STATE is shared by every process the gateway starts: each warms up in a directory of its own.
  if (opts.warmUp) await warmUpPlugins(opts.registrations, plugins, { scratch: join(opts.state, `warm-up.${opts.name}`), log });
  server.add(definitionOf(Health), health.implementation);
  server.add(definitionOf(Introspection), createIntrospectionService({ uuid, plugins: () => plugins }));
  const idle = opts.reclaimMemory
    ? reclaimMemoryWhenIdle({ activity: () => server.activity, reclaim: opts.reclaimMemory, log })
    : undefined;
  // Start-up's garbage goes before the first call can arrive, not in the first quiet interval after it.
  idle?.reclaimNow();
  await listenUnix(server, opts.address);
  log.info({ address: opts.address, plugins: plugins.length }, 'serving');

  let closing: Promise<void> | undefined;
  return {
    plugins,
    address: opts.address,
    close(graceMs = 5000) {
      closing ??= (async () => {
        idle?.close();
        health.shutdown();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          server.shutdown(),
          new Promise<void>((resolve) => { timer = setTimeout(() => { server.forceShutdown(); resolve(); }, graceMs); }),
        ]);
        clearTimeout(timer);
      })();
      return closing;
    },
  };
}
