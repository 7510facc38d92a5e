import { setTimeout as sleep } from 'node:timers/promises';
import { isAlreadyExists } from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';
import { dialH2 } from '@flotilla/rpc/client';
import { createTtrpcServer, type TtrpcServer } from '@flotilla/ttrpc';
import { bundlePath } from './bundle.js';
import { gatewayContainers, type ContainerLookup } from './containers.js';
import { eventPublisher } from './event-publisher.js';
import { gatewayEventSink, type EventSink } from './event-sink.js';
import { registerEventsService } from './events-service.js';
import { exitLedger } from './exit-ledger.js';
import { runtimeResolver } from './runtime-binary.js';
import { configuredShimEnv, shimAddresses, type RuntimeConfig } from './runtime-config.js';
import { loadExistingShims } from './shim-load.js';
import { createShimManager } from './shim-manager.js';
import { taskList } from './task-list.js';
import { createTaskManager, type TaskManager } from './task-manager.js';

/** What the io.containerd.runtime.v2.task plugin provides to the tasks service. */
export interface Runtime {
  readonly tasks: TaskManager;
  readonly containers: ContainerLookup;
  /** Where shims publish events. */
  readonly ttrpcAddress: string;
  /** Stop serving shims' events and drop the connections to them; the shims keep running. */
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** ROOT/io.containerd.runtime.v2.task: work directories. */
  root: string;
  /** STATE/io.containerd.runtime.v2.task: bundles. */
  state: string;
  config: RuntimeConfig;
  peers: Readonly<Record<string, string>>;
  log: Logger;
  /** Replace the gateway's services (tests). */
  containers?: ContainerLookup;
  events?: EventSink;
}

/** How long a predecessor still exiting may hold the events socket. */
const LISTEN_PATIENCE_MS = 15_000;

/**
 * Listen on the events socket. After the gateway is killed, the runtime process it had started takes a
 * moment to notice and exit while the new gateway already starts this one: wait for the socket to be
 * free rather than fail, since without it no shim event would ever arrive.
 */
async function listenPatiently(server: TtrpcServer, address: string, log: Logger): Promise<void> {
  const deadline = Date.now() + LISTEN_PATIENCE_MS;
  for (let warned = false; ; warned = true) {
    try {
      await server.listen(address);
      return;
    } catch (err) {
      if (!isAlreadyExists(err) || Date.now() > deadline) throw err;
      if (!warned) log.warn({ address }, 'events socket still in use by a previous runtime; waiting');
      await sleep(100);
    }
  }
}

/**
 * The runtime v2 plugin: serve the ttrpc socket shims publish to, take back the shims a previous run
 * left, then manage tasks. Events from shims are served before any shim is loaded, so a shim retrying an
 * event it could not deliver while this process was down gets through as soon as it can.
 */
export async function startRuntime(o: RuntimeOptions): Promise<Runtime> {
  const addresses = shimAddresses(o.config, o.peers);
  const env = configuredShimEnv(o.config);
  // One connection to the gateway for container records and events, made on first use.
  const channel = dialH2(addresses.address);
  const containers = o.containers ?? gatewayContainers(channel);
  const sink = o.events ?? gatewayEventSink(channel);
  const publisher = eventPublisher(sink, o.log.child({ component: 'publisher' }));
  const ledger = exitLedger();
  const tasks = taskList();
  const runtimes = runtimeResolver();

  const ttrpc = createTtrpcServer({ log: o.log.child({ component: 'events' }) });
  registerEventsService(ttrpc, { sink, ledger, bundlePath: (ns, id) => bundlePath(o.state, ns, id) });
  await listenPatiently(ttrpc, addresses.ttrpcAddress, o.log);
  o.log.info({ address: addresses.ttrpcAddress }, 'serving shim events');

  const shims = createShimManager({ addresses, env, runtimes, tasks, publisher, ledger, log: o.log });
  await loadExistingShims({ root: o.root, state: o.state, manager: shims, tasks, runtimes, containers, publisher, ledger, log: o.log });
  const taskManager = createTaskManager({ root: o.root, state: o.state, shims, tasks, log: o.log });

  return {
    tasks: taskManager,
    containers,
    ttrpcAddress: addresses.ttrpcAddress,
    async close() {
      shims.close();
      publisher.close();
      await ttrpc.shutdown(1000);
      channel.close();
    },
  };
}
