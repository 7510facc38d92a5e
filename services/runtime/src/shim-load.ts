import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isNotFound } from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';
import { Status } from '@flotilla/proto/containerd/types/task/task_pb';
import { TaskExitSchema } from '@flotilla/proto/containerd/events/task_pb';
import { deleteBundle, loadBundle, removeHidden, type Bundle } from './bundle.js';
import type { ContainerLookup } from './containers.js';
import type { EventPublisher } from './event-publisher.js';
import { TASK_EXIT_TOPIC } from './events-service.js';
import type { ExitLedger } from './exit-ledger.js';
import { DEFAULT_RUNTIME, type RuntimeResolver } from './runtime-binary.js';
import type { ShimManager } from './shim-manager.js';
import type { TaskList } from './task-list.js';

export interface LoadOptions {
  root: string;
  state: string;
  manager: ShimManager;
  tasks: TaskList;
  runtimes: RuntimeResolver;
  containers: ContainerLookup;
  publisher: EventPublisher;
  ledger: ExitLedger;
  log: Logger;
}

async function dirs(path: string): Promise<string[]> {
  try {
    return (await readdir(path, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Take back the shims of a previous run of this process (containerd's shim_load.go), namespace by
 * namespace: reconnect to each bundle's shim; clean up after one that no longer answers (its binary's
 * `delete`, then its exit is published with the status the binary reports); shut down one whose task was
 * never created; and publish the exit of a task that ended while nobody was listening. Then remove work
 * directories no loaded task owns. One bad bundle never stops the others from loading.
 */
export async function loadExistingShims(o: LoadOptions): Promise<void> {
  for (const ns of await dirs(o.state)) {
    if (ns.startsWith('.')) continue;
    const log = o.log.child({ namespace: ns });
    try {
      for (const id of await dirs(join(o.state, ns))) {
        if (id.startsWith('.')) {
          // What an interrupted delete left behind.
          await removeHidden(join(o.state, ns), id);
          continue;
        }
        await loadOne(o, loadBundle(o.state, ns, id), log.child({ id }));
      }
      await cleanupWorkDirs(o, ns, log);
    } catch (err) {
      log.error({ err }, 'loading tasks in namespace');
    }
  }
}

async function loadOne(o: LoadOptions, bundle: Bundle, log: Logger): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(bundle.path);
  } catch (err) {
    log.error({ err }, 'read bundle');
    await deleteBundle(bundle).catch(() => undefined);
    return;
  }
  if (entries.length === 0) {
    await deleteBundle(bundle);
    return;
  }

  // The binary that started the shim, recorded in the bundle; for an older bundle, the container's runtime.
  let runtime = '';
  try {
    runtime = (await readFile(join(bundle.path, 'shim-binary-path'), 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.error({ err }, 'failed to read runtime path from bundle');
  }
  if (runtime === '') {
    try {
      runtime = (await o.containers.get(bundle.namespace, bundle.id)).runtime?.name || DEFAULT_RUNTIME;
    } catch (err) {
      if (isNotFound(err)) {
        log.error({ err }, 'loading container');
        await deleteBundle(bundle).catch((e: unknown) => log.error({ err: e }, 'failed to delete bundle'));
        return;
      }
      // The gateway cannot say right now; the default shim can still clean up a runc bundle.
      log.warn({ err }, 'container runtime unknown; using the default runtime');
      runtime = DEFAULT_RUNTIME;
    }
  }
  let runtimePath: string;
  try {
    runtimePath = await o.runtimes.resolve(runtime);
  } catch (err) {
    log.error({ err }, 'failed to resolve runtime path');
    await deleteBundle(bundle).catch(() => undefined);
    return;
  }

  let shim;
  try {
    shim = await o.manager.reconnect(bundle, runtimePath);
  } catch (err) {
    log.error({ err }, 'unable to load shim');
    await o.manager.cleanupDead(bundle, o.manager.binaryFor(bundle, runtimePath), true);
    return;
  }

  // A shim started for a task that was never created (the runtime died in between) has nothing to hold.
  // containerd asks for the task's pids; the task's state says the same without confusing a task whose
  // processes all exited (which must stay, to report its exit) with one that never existed.
  let state;
  try {
    state = await shim.task.state({ id: bundle.id }, { timeoutMs: 5_000 });
  } catch (err) {
    if (!isNotFound(err)) log.warn({ err }, 'state of reloaded task');
    if (isNotFound(err)) {
      log.info('cleaning leaked shim process');
      await o.manager.retire(shim);
      return;
    }
  }
  o.tasks.add(shim);
  log.info({ status: state ? Status[state.status] : 'unknown' }, 'task loaded');

  // An exit the shim could not deliver while this process was down, and has given up retrying.
  if (state?.status === Status.STOPPED && o.ledger.claim(bundle.path)) {
    void o.publisher.publish(bundle.namespace, TASK_EXIT_TOPIC, TaskExitSchema, {
      containerId: bundle.id,
      id: bundle.id,
      pid: state.pid,
      exitStatus: state.exitStatus,
      ...(state.exitedAt ? { exitedAt: state.exitedAt } : {}),
    }).then((delivered) => (delivered ? o.ledger.confirm(bundle.path) : o.ledger.release(bundle.path)));
  }
}

/** Work directories under the root whose task was not loaded (a reboot emptied the state directory). */
async function cleanupWorkDirs(o: LoadOptions, ns: string, log: Logger): Promise<void> {
  let names: string[];
  try {
    names = await readdir(join(o.root, ns));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const name of names) {
    if (o.tasks.get(ns, name) !== undefined) continue;
    const path = join(o.root, ns, name);
    await rm(path, { recursive: true, force: true }).catch((err: unknown) => log.error({ err, path }, 'cleanup working dir'));
  }
}
