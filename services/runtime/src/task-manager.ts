import type { Any } from '@bufbuild/protobuf/wkt';
import { isNotFound, NotFoundError } from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';
import type { Mount } from '@flotilla/proto/containerd/types/mount_pb';
import { createBundle, deleteBundle } from './bundle.js';
import { createOptions, mergeOptions } from './runtime-options.js';
import type { Exit } from './shim-binary.js';
import type { ShimManager } from './shim-manager.js';
import { isShimGone, type Shim } from './shim.js';
import type { TaskList } from './task-list.js';
import { wrapError } from './wrap-error.js';

/** What a task is created from: the container's record and the Create request. */
export interface CreateTaskOptions {
  /** The OCI spec's JSON (the container's spec Any value). */
  spec?: Uint8Array;
  rootfs: Mount[];
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  /** A directory holding a checkpoint image to restore from; "" for none. */
  checkpoint: string;
  runtime: string;
  runtimeOptions?: Any;
  taskOptions?: Any;
  signal?: AbortSignal;
}

/**
 * Tasks on top of shims (containerd's TaskManager): a task is a bundle, a shim started for it, and the
 * task the shim was asked to create. Everything else a task does is a call on its shim's task API.
 */
export interface TaskManager {
  create(namespace: string, id: string, opts: CreateTaskOptions): Promise<{ shim: Shim; pid: number }>;
  /** The task's shim, or undefined. */
  get(namespace: string, id: string): Shim | undefined;
  list(namespace: string): Shim[];
  /** Delete the task in its shim, end the shim and remove the bundle; the init process's exit. */
  delete(namespace: string, id: string, signal?: AbortSignal): Promise<Exit>;
}

const CLEANUP_TIMEOUT_MS = 5_000;

export function createTaskManager(o: { root: string; state: string; shims: ShimManager; tasks: TaskList; log: Logger }): TaskManager {
  return {
    get: (ns, id) => o.tasks.get(ns, id),
    list: (ns) => o.tasks.list(ns),

    async create(namespace, id, c) {
      const bundle = await createBundle({ root: o.root, state: o.state, namespace, id, spec: c.spec });
      let shim: Shim;
      try {
        shim = await o.shims.start(bundle, {
          runtime: c.runtime,
          options: mergeOptions(c.runtimeOptions, c.taskOptions),
          signal: c.signal,
        });
      } catch (err) {
        await deleteBundle(bundle).catch((e: unknown) => o.log.error({ err: e, id }, 'failed to delete bundle'));
        throw wrapError('failed to start shim', err);
      }
      try {
        const options = createOptions(c.runtimeOptions, c.taskOptions);
        const res = await shim.task.create({
          id,
          bundle: bundle.path,
          rootfs: c.rootfs,
          terminal: c.terminal,
          stdin: c.stdin,
          stdout: c.stdout,
          stderr: c.stderr,
          checkpoint: c.checkpoint,
          options,
        }, { signal: c.signal });
        return { shim, pid: res.pid };
      } catch (err) {
        // Undo what the shim may have half done, then end it: nothing else will ever ask for it.
        o.shims.remove(shim);
        await shim.task.delete({ id }, { timeoutMs: CLEANUP_TIMEOUT_MS }).catch(() => undefined);
        await o.shims.retire(shim);
        throw wrapError('failed to create shim task', err);
      }
    },

    async delete(namespace, id, signal) {
      const shim = o.tasks.get(namespace, id);
      if (shim === undefined) throw new NotFoundError(`task ${id} not found`);
      let res;
      let shimErr: unknown;
      try {
        res = await shim.task.delete({ id }, { signal });
      } catch (err) {
        // A shim that is gone or no longer knows the task still has to be shut down and cleaned up.
        if (!isShimGone(shim, err) && !isNotFound(err)) throw wrapError('failed to delete task', err);
        shimErr = err;
      }
      // Once the shim has deleted the task (and published /tasks/delete), a shim death must not announce
      // the task's end a second time.
      if (shimErr === undefined) o.shims.remove(shim);
      await o.shims.retire(shim);
      if (shimErr !== undefined || res === undefined) throw wrapError('failed to delete task', shimErr);
      return { pid: res.pid, status: res.exitStatus, exitedAt: res.exitedAt };
    },
  };
}
