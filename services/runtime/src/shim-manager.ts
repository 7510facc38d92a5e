import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { timestampNow, type Any } from '@bufbuild/protobuf/wkt';
import type { Logger } from '@flotilla/log';
import { TaskDeleteSchema, TaskExitSchema } from '@flotilla/proto/containerd/events/task_pb';
import { removeDeadSocket } from './dead-socket.js';
import { restoreBootstrapParams, writeBootstrapParams } from './bootstrap-params.js';
import { deleteBundle, type Bundle } from './bundle.js';
import type { EventPublisher } from './event-publisher.js';
import { TASK_EXIT_TOPIC } from './events-service.js';
import type { ExitLedger } from './exit-ledger.js';
import type { RuntimeResolver } from './runtime-binary.js';
import type { ShimAddresses } from './runtime-config.js';
import { shimBinary, type Exit, type ShimBinary } from './shim-binary.js';
import { openShimLog } from './shim-log.js';
import { connectShim, isShimGone, makeShim, type Shim } from './shim.js';
import type { TaskList } from './task-list.js';

export const TASK_DELETE_TOPIC = '/tasks/delete';

/** containerd's shim timeouts: to load a shim back, to clean up a dead one, to shut one down. */
const LOAD_TIMEOUT_MS = 5_000;
const CLEANUP_TIMEOUT_MS = 5_000;
const SHUTDOWN_TIMEOUT_MS = 3_000;

export interface ShimManagerOptions {
  addresses: ShimAddresses;
  /** Extra environment for shims, from the configuration. */
  env: readonly string[];
  runtimes: RuntimeResolver;
  tasks: TaskList;
  publisher: EventPublisher;
  ledger: ExitLedger;
  log: Logger;
}

export interface StartShimOptions {
  /** Runtime name (`io.containerd.runc.v2`) or an absolute path to a shim binary. */
  runtime: string;
  /** What the shim's `start` reads on stdin. */
  options?: Any;
  signal?: AbortSignal;
}

/**
 * Starts shims, takes them back after a restart, and cleans up after the ones that die. It knows nothing
 * of what a shim runs beyond the task API it needs to shut one down; the task manager drives the rest.
 */
export interface ShimManager {
  /** Start a shim for a bundle and hold it under its namespace and id. */
  start(bundle: Bundle, opts: StartShimOptions): Promise<Shim>;
  /** Connect to the shim an existing bundle names; throws when it does not answer. */
  reconnect(bundle: Bundle, runtime: string): Promise<Shim>;
  /** Stop holding a shim (its task was deleted). */
  remove(shim: Shim): void;
  /**
   * End a shim on purpose: shut it down, wait for it to exit (it first sends the events it still has),
   * then remove its bundle. The task must already be gone from the shim.
   */
  retire(shim: Shim): Promise<void>;
  /**
   * After a shim died or never answered: run its binary's `delete`, remove the bundle, and, when
   * `announce` is set, publish the task's exit (unless already published) and delete, as containerd does
   * for a shim it was holding.
   */
  cleanupDead(bundle: Bundle, binary: ShimBinary, announce: boolean): Promise<void>;
  binaryFor(bundle: Bundle, runtimePath: string): ShimBinary;
  /** Close every connection and log relay without touching the shims (this process is stopping). */
  close(): void;
}

export function createShimManager(o: ShimManagerOptions): ShimManager {
  let closing = false;
  const log = o.log;
  const debug = log.isLevelEnabled('debug');

  const binaryFor = (bundle: Bundle, runtimePath: string) => shimBinary({
    bundle,
    runtime: runtimePath,
    addresses: o.addresses,
    env: o.env,
    debug,
    log,
  });

  const cleanupDead = async (bundle: Bundle, binary: ShimBinary, announce: boolean) => {
    const l = log.child({ namespace: bundle.namespace, id: bundle.id });
    l.warn('cleaning up after shim disconnected');
    let exit: Exit | undefined;
    try {
      exit = await binary.delete(AbortSignal.timeout(CLEANUP_TIMEOUT_MS));
    } catch (err) {
      l.warn({ err }, 'failed to clean up after shim disconnected');
    }
    // Asked before the bundle (and the ledger's record in it) goes.
    const exitPending = announce && o.ledger.claim(bundle.path);
    await removeDeadSocket(bundle, l);
    try {
      await deleteBundle(bundle);
    } catch (err) {
      l.error({ err }, 'failed to delete bundle');
    }
    o.ledger.forget(bundle.path);
    if (!announce) return;
    // Without the shim's answer the status is unknown: 255 and now, as containerd reports it.
    const pid = exit?.pid ?? 0;
    const exitStatus = exit?.status ?? 255;
    const exitedAt = exit?.exitedAt ?? timestampNow();
    if (exitPending) {
      void o.publisher.publish(bundle.namespace, TASK_EXIT_TOPIC, TaskExitSchema, {
        containerId: bundle.id,
        id: bundle.id,
        pid,
        exitStatus,
        exitedAt,
      });
    }
    void o.publisher.publish(bundle.namespace, TASK_DELETE_TOPIC, TaskDeleteSchema, {
      containerId: bundle.id,
      pid,
      exitStatus,
      exitedAt,
    });
  };

  /** A shim whose connection ends without the runtime asking for it has died. */
  const watch = (shim: Shim) => {
    void shim.client.done.then(async () => {
      if (closing || shim.deleting) return;
      const l = log.child({ namespace: shim.namespace, id: shim.id });
      l.info('shim disconnected');
      const held = o.tasks.get(shim.namespace, shim.id) === shim;
      shim.log.close();
      await cleanupDead(shim.bundle, shim.binary, held);
      o.tasks.remove(shim);
    });
  };

  /** The shim's pid, from the file it writes in its bundle, for killing one that cannot be reached. */
  const killUnreachable = async (bundle: Bundle) => {
    try {
      const pid = Number((await readFile(join(bundle.path, 'shim.pid'), 'utf8')).trim());
      if (Number.isInteger(pid) && pid > 1) process.kill(pid, 'SIGKILL');
    } catch {
      // no pid file or no such process: nothing is left running
    }
  };

  return {
    binaryFor,
    cleanupDead,

    async start(bundle, opts) {
      const runtimePath = await o.runtimes.resolve(opts.runtime);
      const l = log.child({ namespace: bundle.namespace, id: bundle.id });
      const binary = binaryFor(bundle, runtimePath);
      // The shim will not run without a reader on its log pipe: open it first.
      const shimLog = await openShimLog(bundle.path, l);
      try {
        const params = await binary.start(opts.options, opts.signal);
        l.info({ address: params.address, protocol: params.protocol, version: params.version }, 'connecting to shim');
        let client;
        try {
          client = await connectShim(params, opts.signal);
        } catch (err) {
          await killUnreachable(bundle);
          throw err;
        }
        await writeBootstrapParams(bundle.path, params);
        const shim = makeShim({ bundle, params, client, binary, log: shimLog });
        o.tasks.add(shim);
        watch(shim);
        return shim;
      } catch (err) {
        shimLog.close();
        throw err;
      }
    },

    async reconnect(bundle, runtimePath) {
      const l = log.child({ namespace: bundle.namespace, id: bundle.id });
      const shimLog = await openShimLog(bundle.path, l);
      try {
        const params = await restoreBootstrapParams(bundle.path);
        l.info({ address: params.address, protocol: params.protocol, version: params.version }, 'connecting to shim');
        const client = await connectShim(params, AbortSignal.timeout(LOAD_TIMEOUT_MS));
        const shim = makeShim({ bundle, params, client, binary: binaryFor(bundle, runtimePath), log: shimLog });
        try {
          // The task API is the one thing a shim must serve: check it answers before trusting it.
          await shim.task.connect({ id: bundle.id }, { timeoutMs: LOAD_TIMEOUT_MS });
        } catch (err) {
          shim.deleting = true;
          client.close();
          throw err;
        }
        watch(shim);
        return shim;
      } catch (err) {
        shimLog.close();
        throw err;
      }
    },

    remove(shim) {
      o.tasks.remove(shim);
    },

    async retire(shim) {
      shim.deleting = true;
      const l = log.child({ namespace: shim.namespace, id: shim.id });
      try {
        await shim.task.shutdown({ id: shim.id }, { timeoutMs: SHUTDOWN_TIMEOUT_MS });
      } catch (err) {
        if (!isShimGone(shim, err)) l.error({ err }, 'failed to shutdown shim task and the shim might be leaked');
      }
      // A shim exits once the events it queued are out: waiting for its connection to end keeps the
      // task's last events (its /tasks/delete) ahead of the answer to whoever deleted it.
      const wait = new AbortController();
      await Promise.race([shim.client.done, sleep(SHUTDOWN_TIMEOUT_MS, undefined, { signal: wait.signal }).catch(() => undefined)]);
      wait.abort();
      shim.client.close();
      shim.log.close();
      o.ledger.forget(shim.bundle.path);
      try {
        await deleteBundle(shim.bundle);
      } catch (err) {
        l.error({ err }, 'failed to delete bundle');
      }
      o.tasks.remove(shim);
    },

    close() {
      closing = true;
      for (const shim of o.tasks.all()) {
        shim.client.close();
        shim.log.close();
      }
    },
  };
}
