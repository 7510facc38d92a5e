import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { Health } from '@flotilla/proto/grpc/health/v1/health_pb';
import { Diff } from '@flotilla/proto/containerd/services/diff/v1/diff_pb';
import { Tasks } from '@flotilla/proto/containerd/services/tasks/v1/tasks_pb';
import {
  Introspection,
  PluginsRequestSchema,
} from '@flotilla/proto/containerd/services/introspection/v1/introspection_pb';
import { rejectRemovedSnapshotter, type Config, type DeprecationLog } from '@flotilla/config';
import type { Logger } from '@flotilla/log';
import {
  PluginType,
  createIntrospectionService,
  loadOrCreateUuid,
  proxyPluginTypes,
  reclaimMemoryWhenIdle,
  type PluginRecord,
  type ReclaimedMemory,
  type ServiceName,
} from '@flotilla/plugin';
import { createHealth, createRpcServer, definitionOf, leaseOf, listenUnix, requireNamespace } from '@flotilla/rpc';
import { clientOf } from '@flotilla/rpc/client';
import { openMetadata } from './metadata/db.js';
import { createDurability } from './metadata/durability.js';
import { createNamespaceStore } from './metadata/namespaces.js';
import { createLeaseStore } from './metadata/leases.js';
import { createImageStore } from './metadata/images.js';
import { createContainerStore } from './metadata/containers.js';
import { createNamespacedContent } from './metadata/content.js';
import { unavailableContent } from './metadata/unavailable-content.js';
import { contentSharingPolicy, gcOptions, supervisorOptions } from './settings.js';
import { createCollector } from './gc/collect.js';
import { containerRoots } from './gc/roots.js';
import { createRwLock } from './gc/rw-lock.js';
import { contentService, remoteContentStore, type ContentStore } from '@flotilla/service-content';
import { snapshotsService } from '@flotilla/snapshots';
import { createNamespacedSnapshots, recordedSnapshotters, snapshotsHolder, type NamespacedSnapshots } from './metadata/snapshots.js';
import { snapshotterByName } from './services/snapshots.js';
import { backendSnapshotter } from './backend-snapshotter.js';
import { leasesService } from './services/leases.js';
import { imagesService } from './services/images.js';
import { containersService } from './services/containers.js';
import { eventsService } from './services/events.js';
import { createExchange } from './events/exchange.js';
import { warmUpGateway, WARM_UP_NAMESPACE } from './warm-up.js';
import { namespacesService } from './services/namespaces.js';
import { versionService } from './services/version.js';
import { builtinProcesses } from './processes/builtins.js';
import { attach, supervise, type Supervised } from './processes/supervisor.js';
import { processBackend, proxyBackend, type Backend } from './backend.js';
import { addRelay } from './router.js';
import { taskContainerGuard } from './task-container-guard.js';
import { diffContentGuard } from './diff-content-guard.js';
import { refuseRemovedApis } from './removed-apis.js';

export interface GatewayOptions {
  config: Config;
  log: Logger;
  /** argv that runs one built-in plugin process (the CLI knows where it lives; the gateway does not). */
  processCommand(name: ServiceName): { command: string; args: string[] };
  /** Git revision or build id reported by the version service. */
  revision?: string;
  /** Deprecation warnings (config migration seeds it), listed by introspection's Server call. */
  deprecations?: DeprecationLog;
  /** Give memory back once the gateway is idle (see reclaimMemoryWhenIdle); without it, never. */
  reclaimMemory?: () => ReclaimedMemory;
  /**
   * Once the processes a pull goes through are up, pull an image of the gateway's own through its socket
   * and remove it (warm-up.ts), before the plugin processes are reported ready.
   */
  warmUp?: boolean;
}

export interface Gateway {
  readonly address: string;
  readonly processes: ReadonlyMap<ServiceName, Supervised>;
  close(): Promise<void>;
}

/** Introspection entries for what the gateway process itself hosts. */
function gatewayPlugins(): PluginRecord[] {
  const base = { requires: [] as string[], platforms: [], exports: {}, capabilities: [] };
  return [
    { ...base, type: PluginType.Metadata, id: 'sqlite' },
    { ...base, type: PluginType.Event, id: 'exchange' },
    { ...base, type: PluginType.GRPC, id: 'version' },
    { ...base, type: PluginType.GRPC, id: 'introspection', requires: ['*'] },
    { ...base, type: PluginType.GRPC, id: 'namespaces', requires: [PluginType.Metadata] },
    { ...base, type: PluginType.GRPC, id: 'leases', requires: [PluginType.Metadata] },
    { ...base, type: PluginType.GRPC, id: 'images', requires: [PluginType.Event, PluginType.Metadata] },
    { ...base, type: PluginType.GRPC, id: 'containers', requires: [PluginType.Event, PluginType.Metadata] },
    { ...base, type: PluginType.GRPC, id: 'events', requires: [PluginType.Event] },
    { ...base, type: PluginType.GRPC, id: 'content', requires: [PluginType.Metadata] },
    { ...base, type: PluginType.GRPC, id: 'snapshots', requires: [PluginType.Metadata] },
    { ...base, type: PluginType.GC, id: 'scheduler', requires: [PluginType.Metadata] },
    { ...base, type: PluginType.GRPC, id: 'healthcheck' },
  ];
}

const UNAVAILABLE = 14;

/**
 * Start the gateway: metadata, the gateway's own services, the supervised plugin processes and the
 * relays to them, all on one socket. The socket is up before any plugin process is: a slow or crashed
 * plugin only makes its own calls answer Unavailable.
 */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const { config, log } = opts;
  const dbPath = join(config.root, 'io.containerd.metadata.v1.sqlite', 'meta.db');
  const db = openMetadata(dbPath);
  // Metadata a client has heard about is on disk: every answer waits for the WAL sync its changes need.
  const durability = createDurability(db, dbPath);
  const namespaces = createNamespaceStore(db);
  const leases = createLeaseStore(db);
  const images = createImageStore(db);
  const containers = createContainerStore(db);
  // Registered first: containerd names what a namespace still holds in the order images, blobs, ...
  namespaces.addHolder(images);
  const events = createExchange(log.child({ component: 'events' }));
  const uuid = await loadOrCreateUuid(join(config.root, 'io.containerd.grpc.v1.introspection', 'uuid'));

  const disabled = new Set(config.disabledPlugins);
  const supervision = supervisorOptions(config.plugins[PluginType.Process]);
  const socketDir = join(config.state, 'plugins');
  const processes = new Map<ServiceName, Supervised>();
  const remotePlugins = new Map<ServiceName, PluginRecord[]>();
  const socketOf = (name: ServiceName) => supervision.external[name] ?? join(socketDir, `${name}.sock`);
  // Every process learns where the others and the gateway listen (InitContext.peers).
  const peerArgs = [
    '--peer', `gateway=${config.grpc.address}`,
    ...builtinProcesses.flatMap((p) => ['--peer', `${p.name}=${socketOf(p.name)}`]),
  ];
  for (const p of builtinProcesses) {
    if (disabled.has(`${PluginType.Process}.${p.name}`) || disabled.has(p.name)) {
      log.info({ process: p.name }, 'plugin process disabled by config');
      continue;
    }
    const external = supervision.external[p.name];
    const socket = socketOf(p.name);
    const { command, args } = opts.processCommand(p.name);
    const sup = external !== undefined
      ? attach(p.name, external, { log })
      : supervise(
        { name: p.name, command, args: [...args, '--address', socket, '--root', config.root, '--state', config.state, ...peerArgs], socket },
        { log, ...supervision.options },
      );
    // Learn what the process actually loaded, each time it (re)starts.
    const introspect = clientOf(Introspection, sup.h2);
    sup.onReady(() => {
      introspect.plugins(create(PluginsRequestSchema, {}), { signal: AbortSignal.timeout(5000) }).then(
        (res) => remotePlugins.set(p.name, res.plugins.map((pl) => ({
          type: pl.type,
          id: pl.id,
          requires: pl.requires,
          platforms: pl.platforms.map((x) => ({ os: x.os, architecture: x.architecture, variant: x.variant })),
          exports: pl.exports,
          capabilities: pl.capabilities,
          ...(pl.initErr ? { error: { code: pl.initErr.code, message: pl.initErr.message } } : {}),
        }))),
        (err: unknown) => log.warn({ process: p.name, err }, 'could not list the plugins of a plugin process'),
      );
    });
    processes.set(p.name, sup);
  }

  const proxies = new Map<string, { backend: Backend; type: string }>();
  for (const [name, pp] of Object.entries(config.proxyPlugins)) {
    const type = proxyPluginTypes[pp.type];
    if (type === undefined) {
      log.warn({ plugin: name, type: pp.type }, 'unknown proxy plugin type; ignored');
      continue;
    }
    proxies.set(name, { backend: proxyBackend(name, pp.address), type });
  }

  // The bytes live in the content process; the gateway keeps which namespace holds what, and collects.
  const contentProcess = processes.get('content');
  const contentBackend: ContentStore = contentProcess
    // Eight 1 MiB writes in flight to the content process: the gateway answers each client write as soon as
    // it has handed the bytes on, so its two hops overlap instead of taking turns.
    ? remoteContentStore(contentProcess.h2, { writeWindow: 8, exactWriteAnswers: true })
    : unavailableContent('the content plugin process is disabled by config');
  const lock = createRwLock();
  // Each snapshotter's namespaced metadata, filled in below: the collector reads it at every collection.
  const snapshotMetadata = new Map<string, NamespacedSnapshots>();
  const gc = createCollector({
    db,
    backend: contentBackend,
    lock,
    log: log.child({ component: 'gc' }),
    roots: [containerRoots(containers)],
    images,
    snapshotters: () => snapshotMetadata.values(),
    events,
    ...gcOptions(config.plugins[`${PluginType.GC}.scheduler`]),
  });
  const content = createNamespacedContent({
    db,
    backend: contentBackend,
    leases,
    events,
    lock,
    onDelete: () => {
      gc.markContentDirty();
      gc.schedule();
    },
    policy: contentSharingPolicy(config.plugins),
    unsynced: durability.unsynced,
  });
  namespaces.addHolder(content);
  namespaces.addHolder(containers);

  const snapshotters = new Map<string, Backend>();
  // Built-in snapshotters' mounts follow from their directories alone; a proxy plugin's are its own.
  const builtinSnapshotters = new Set<string>();
  for (const p of builtinProcesses) {
    const sup = processes.get(p.name);
    if (sup) {
      for (const s of p.snapshotters) {
        snapshotters.set(s, processBackend(sup));
        builtinSnapshotters.add(s);
      }
    }
  }
  for (const [name, { backend, type }] of proxies) {
    if (type !== PluginType.Snapshotter) continue;
    snapshotters.set(name, backend);
    builtinSnapshotters.delete(name);
  }
  // Namespaces, keys, labels and parent chains are the gateway's; the backend holds the trees.
  for (const [name, backend] of snapshotters) {
    snapshotMetadata.set(name, createNamespacedSnapshots({
      db,
      name,
      backend: backendSnapshotter(backend, name),
      leases,
      events,
      log: log.child({ component: 'snapshots', snapshotter: name }),
      onRemove: () => gc.schedule(),
      stableMounts: builtinSnapshotters.has(name),
    }));
  }
  // A namespace with snapshots cannot go, snapshotter by snapshotter in name order as containerd lists
  // them (after images, blobs and containers), including one no longer configured whose records remain.
  for (const name of [...new Set([...snapshotMetadata.keys(), ...recordedSnapshotters(db)])].sort()) {
    namespaces.addHolder(snapshotMetadata.get(name) ?? snapshotsHolder(db, name));
  }

  /** Why the plugin processes are not reported ready yet although they run: the gateway's warm-up. */
  let warming: string | undefined;
  const pluginRecords = (): PluginRecord[] => {
    const out = gatewayPlugins();
    for (const p of builtinProcesses) {
      const sup = processes.get(p.name);
      if (!sup) continue;
      const down = processBackend(sup).unavailable() ?? warming;
      const error = down === undefined ? undefined : { code: UNAVAILABLE, message: down };
      out.push({
        type: PluginType.Process,
        id: p.name,
        requires: [],
        platforms: [],
        exports: { address: sup.socket, ...(sup.pid() !== undefined ? { pid: String(sup.pid()) } : {}) },
        capabilities: [],
        ...(error ? { error } : {}),
      });
      for (const r of remotePlugins.get(p.name) ?? []) out.push(error && !r.error ? { ...r, error } : r);
    }
    for (const [name, pp] of Object.entries(config.proxyPlugins)) {
      const proxy = proxies.get(name);
      if (!proxy) continue;
      const [os, architecture, variant] = (pp.platform ?? '').split('/');
      out.push({
        type: proxy.type,
        id: name,
        requires: [],
        platforms: os && architecture ? [{ os, architecture, ...(variant ? { variant } : {}) }] : [],
        exports: { address: pp.address, ...pp.exports },
        capabilities: pp.capabilities,
      });
    }
    return out;
  };

  const server = createRpcServer(log, { beforeAnswer: durability.settle });
  const health = createHealth();
  versionService(opts.revision ?? 'unknown').register(server);
  namespacesService(namespaces, events).register(server);
  leasesService(leases, gc).register(server);
  imagesService(images, events, gc).register(server);
  containersService(containers, events, gc).register(server);
  eventsService(events).register(server);
  contentService((ctx) => content.store(requireNamespace(ctx.metadata), leaseOf(ctx.metadata))).register(server);
  server.add(definitionOf(Introspection), createIntrospectionService({ uuid, plugins: pluginRecords, deprecations: () => opts.deprecations?.list() ?? [] }));
  server.add(definitionOf(Health), health.implementation);
  for (const p of builtinProcesses) {
    const sup = processes.get(p.name);
    if (!sup) continue; // disabled: its services are not served at all, as in containerd (Unimplemented)
    const backend = processBackend(sup);
    for (const service of p.services) {
      const guard = service.typeName === Tasks.typeName ? taskContainerGuard(containers) : service.typeName === Diff.typeName ? diffContentGuard(content) : undefined;
      addRelay(server, service, () => backend, guard);
    }
  }
  snapshotsService(snapshotterByName((name) => snapshotMetadata.get(name) ?? rejectRemovedSnapshotter(name))).register(server);
  refuseRemovedApis(server);

  await listenUnix(server, config.grpc.address);
  log.info({ address: config.grpc.address, processes: [...processes.keys()] }, 'gateway serving');
  const idle = opts.reclaimMemory
    ? reclaimMemoryWhenIdle({ activity: () => server.activity, reclaim: opts.reclaimMemory, log })
    : undefined;
  if (opts.warmUp) {
    // The processes a pull goes through: content, the differ's and the default snapshotter's.
    const snapshotter = snapshotMetadata.has('overlayfs') ? 'overlayfs' : undefined;
    const needed = builtinProcesses
      .filter((p) => p.name === 'content' || p.services.includes(Diff) || (snapshotter !== undefined && p.snapshotters.includes(snapshotter)))
      .map((p) => processes.get(p.name));
    if (needed.every((sup) => sup !== undefined)) {
      warming = 'the gateway is warming up';
      const unhide = events.hide(WARM_UP_NAMESPACE);
      const started = performance.now();
      void (async () => {
        try {
          const deadline = Date.now() + (supervision.options.startTimeoutMs ?? 15_000);
          while (needed.some((sup) => processBackend(sup!).unavailable() !== undefined)) {
            if (Date.now() > deadline) throw new Error('the processes it needs did not start in time');
            await new Promise((r) => setTimeout(r, 20));
          }
          // Start-up's garbage goes before the warm-up, which then faults back in the memory a pull through the
          // gateway needs. Given back after it instead, that memory was faulted in again by the first pull
          // (about 700 page faults in the gateway, at some 10 µs each on a VM). The warm-up's own garbage goes
          // in the first quiet interval, like any busy period's.
          idle?.reclaimNow();
          await warmUpGateway({ address: config.grpc.address, ...(snapshotter !== undefined ? { snapshotter } : {}), log });
          log.debug({ ms: Math.round(performance.now() - started) }, 'warm-up done');
        } catch (err) {
          log.warn({ err }, 'gateway warm-up failed; serving without it');
        } finally {
          unhide();
          warming = undefined;
        }
      })();
    }
  }

  return {
    address: config.grpc.address,
    processes,
    async close() {
      idle?.close();
      health.shutdown();
      gc.close();
      await Promise.all([...processes.values()].map((p) => p.stop()));
      for (const { backend } of proxies.values()) backend.h2.close();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        server.shutdown(),
        new Promise<void>((resolve) => { timer = setTimeout(() => { server.forceShutdown(); resolve(); }, 5000); }),
      ]);
      clearTimeout(timer);
      await durability.close();
      db.close();
    },
  };
}
