import { create } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import {
  AlreadyExistsError,
  InvalidArgumentError,
  isNotFound,
  isUnavailable,
  NotFoundError,
  NotImplementedError,
} from '@flotilla/errdefs';
import { adaptFields, parseAll } from '@flotilla/filters';
import type { Logger } from '@flotilla/log';
import type { GrpcService } from '@flotilla/plugin';
import { CONTAINER_CHECKED_KEY, definitionOf, requireNamespace, validateIdentifier, type Implementation, type RpcServer, type ServerCallContext } from '@flotilla/rpc';
import { MetricSchema, type Metric } from '@flotilla/proto/containerd/types/metrics_pb';
import { ProcessSchema, Status, type Process } from '@flotilla/proto/containerd/types/task/task_pb';
import { ListTasksResponseSchema, Tasks } from '@flotilla/proto/containerd/services/tasks/v1/tasks_pb';
import type { ContainerLookup } from './containers.js';
import { keyedLock } from './keyed-lock.js';
import { processOf } from './process-state.js';
import { DEFAULT_RUNTIME } from './runtime-binary.js';
import { checkTaskOptions } from './runtime-options.js';
import { isShimGone, type Shim } from './shim.js';
import type { TaskManager } from './task-manager.js';

export interface TasksServiceOptions {
  tasks: TaskManager;
  containers: ContainerLookup;
  log: Logger;
}

/** How long Get and List wait for a shim's state before reporting the task without it. */
const STATE_TIMEOUT_MS = 2_000;

/**
 * `containerd.services.tasks.v1.Tasks`, as containerd's local tasks service: every call finds the
 * container record first (a task exists only for a container), then its shim, and asks the shim. The
 * shims publish the task events themselves; this service publishes none.
 */
export function tasksService(o: TasksServiceOptions): GrpcService {
  const lock = keyedLock();
  const key = (ns: string, id: string) => `${ns}/${id}`;

  const taskOf = async (ctx: ServerCallContext, id: string): Promise<{ ns: string; shim: Shim }> => {
    const ns = requireNamespace(ctx.metadata);
    // containerd's tasks service first looks the container up. Through the gateway, which owns the records,
    // that was done before the call was relayed.
    if (ctx.metadata.get(CONTAINER_CHECKED_KEY) !== id) await o.containers.get(ns, id, ctx.signal);
    const shim = o.tasks.get(ns, id);
    if (shim === undefined) throw new NotFoundError(`task ${id} not found`);
    return { ns, shim };
  };

  /** A process's state; a shim that is gone has no such process any more. */
  const state = async (shim: Shim, execId: string, signal?: AbortSignal) => {
    try {
      return await shim.task.state({ id: shim.id, execId }, { timeoutMs: STATE_TIMEOUT_MS, signal });
    } catch (err) {
      if (isShimGone(shim, err)) throw new NotFoundError(`task ${shim.id} not found`);
      throw err;
    }
  };

  /** containerd reports a process whose shim answered oddly as UNKNOWN rather than failing the call. */
  const processState = async (shim: Shim, execId: string, log: Logger, signal?: AbortSignal): Promise<Process> => {
    try {
      return processOf(execId || shim.id, await state(shim, execId, signal));
    } catch (err) {
      if (isNotFound(err) || isUnavailable(err)) throw err;
      log.error({ err, id: shim.id }, 'get state');
      return create(ProcessSchema, { id: execId || shim.id, status: Status.UNKNOWN });
    }
  };

  const impl: Implementation<typeof Tasks> = {
    async create(req, ctx) {
      const ns = requireNamespace(ctx.metadata);
      const id = req.containerId;
      const container = await o.containers.get(ns, id, ctx.signal);
      if (container.sandbox !== '') {
        throw new NotImplementedError(`container ${id} belongs to sandbox ${container.sandbox}: tasks in sandboxes are not supported`);
      }
      const runtimeName = container.runtime?.name || DEFAULT_RUNTIME;
      const taskOptions = checkTaskOptions(runtimeName, req.options);
      if (req.checkpoint !== undefined || (taskOptions?.criuImagePath ?? '') !== '') {
        throw new NotImplementedError('restoring a task from a checkpoint is not supported by Flotilla yet');
      }
      return lock.run(key(ns, id), async () => {
        if (o.tasks.get(ns, id) !== undefined) throw new AlreadyExistsError(`task ${id}`);
        const { pid } = await o.tasks.create(ns, id, {
          spec: container.spec?.value,
          rootfs: req.rootfs,
          stdin: req.stdin,
          stdout: req.stdout,
          stderr: req.stderr,
          terminal: req.terminal,
          checkpoint: '',
          runtime: req.runtimePath || runtimeName,
          runtimeOptions: container.runtime?.options,
          taskOptions: req.options,
          signal: ctx.signal,
        });
        return { containerId: id, pid };
      });
    },

    async start(req, ctx) {
      const { shim } = await taskOf(ctx, req.containerId);
      const res = await shim.task.start({ id: shim.id, execId: req.execId }, { signal: ctx.signal });
      return { pid: res.pid };
    },

    async delete(req, ctx) {
      const ns = requireNamespace(ctx.metadata);
      return lock.run(key(ns, req.containerId), async () => {
        await taskOf(ctx, req.containerId);
        const exit = await o.tasks.delete(ns, req.containerId, ctx.signal);
        return { pid: exit.pid, exitStatus: exit.status, exitedAt: exit.exitedAt };
      });
    },

    async deleteProcess(req, ctx) {
      const { shim } = await taskOf(ctx, req.containerId);
      const res = await shim.task.delete({ id: shim.id, execId: req.execId }, { signal: ctx.signal });
      return { id: req.execId, pid: res.pid, exitStatus: res.exitStatus, exitedAt: res.exitedAt };
    },

    async get(req, ctx) {
      const { shim } = await taskOf(ctx, req.containerId);
      return { process: await processState(shim, req.execId, ctx.log, ctx.signal) };
    },

    async list(_req, ctx) {
      // containerd lists every task of the namespace and ignores the filter; so do we.
      const ns = requireNamespace(ctx.metadata);
      const shims = o.tasks.list(ns);
      const states = await Promise.all(shims.map(async (shim) => {
        try {
          return await processState(shim, '', ctx.log, ctx.signal);
        } catch (err) {
          // A task deleted meanwhile is simply not listed.
          if (!isNotFound(err)) ctx.log.error({ err, id: shim.id }, 'converting task to protobuf');
          return undefined;
        }
      }));
      return create(ListTasksResponseSchema, { tasks: states.filter((p): p is Process => p !== undefined) });
    },

    async kill(req, ctx) {
      const ns = requireNamespace(ctx.metadata);
      return lock.run(key(ns, req.containerId), async () => {
        const { shim } = await taskOf(ctx, req.containerId);
        await shim.task.kill({ id: shim.id, execId: req.execId, signal: req.signal, all: req.all }, { signal: ctx.signal });
        return {};
      });
    },

    async exec(req, ctx) {
      if (req.execId === '') throw new InvalidArgumentError('exec id cannot be empty');
      const { shim } = await taskOf(ctx, req.containerId);
      try {
        validateIdentifier(req.execId);
      } catch (err) {
        throw new InvalidArgumentError(`invalid exec id ${req.execId}: ${(err as Error).message}`, { cause: err });
      }
      await shim.task.exec({
        id: shim.id,
        execId: req.execId,
        terminal: req.terminal,
        stdin: req.stdin,
        stdout: req.stdout,
        stderr: req.stderr,
        spec: req.spec,
      }, { signal: ctx.signal });
      return {};
    },

    async resizePty(req, ctx) {
      const { shim } = await taskOf(ctx, req.containerId);
      await shim.task.resizePty({ id: shim.id, execId: req.execId, width: req.width, height: req.height }, { signal: ctx.signal });
      return {};
    },

    async closeIO(req, ctx) {
      const { shim } = await taskOf(ctx, req.containerId);
      if (req.stdin) await shim.task.closeIO({ id: shim.id, execId: req.execId, stdin: true }, { signal: ctx.signal });
      return {};
    },

    async pause(req, ctx) {
      const { shim } = await taskOf(ctx, req.containerId);
      await shim.task.pause({ id: shim.id }, { signal: ctx.signal });
      return {};
    },

    async resume(req, ctx) {
      const { shim } = await taskOf(ctx, req.containerId);
      await shim.task.resume({ id: shim.id }, { signal: ctx.signal });
      return {};
    },

    async listPids(req, ctx) {
      const { shim } = await taskOf(ctx, req.containerId);
      const res = await shim.task.pids({ id: shim.id }, { signal: ctx.signal });
      return { processes: res.processes };
    },

    async checkpoint() {
      throw new NotImplementedError('checkpointing a task is not supported by Flotilla yet');
    },

    async update(req, ctx) {
      const { shim } = await taskOf(ctx, req.containerId);
      await shim.task.update({ id: shim.id, resources: req.resources, annotations: req.annotations }, { signal: ctx.signal });
      return {};
    },

    async metrics(req, ctx) {
      const filter = parseAll(...req.filters);
      const ns = requireNamespace(ctx.metadata);
      const picked = o.tasks.list(ns).filter((shim) => filter.match(adaptFields({ id: shim.id, namespace: shim.namespace })));
      const metrics = await Promise.all(picked.map(async (shim): Promise<Metric | undefined> => {
        const collected = timestampNow();
        try {
          const res = await shim.task.stats({ id: shim.id }, { signal: ctx.signal });
          return create(MetricSchema, { timestamp: collected, id: shim.id, data: res.stats });
        } catch (err) {
          if (!isNotFound(err)) ctx.log.error({ err, id: shim.id }, 'collecting metrics');
          return undefined;
        }
      }));
      return { metrics: metrics.filter((m): m is Metric => m !== undefined) };
    },

    async wait(req, ctx) {
      const { shim } = await taskOf(ctx, req.containerId);
      const res = await shim.task.wait({ id: shim.id, execId: req.execId }, { signal: ctx.signal });
      return { exitStatus: res.exitStatus, exitedAt: res.exitedAt };
    },
  };
  return { name: Tasks.typeName, register: (server: RpcServer) => server.add(definitionOf(Tasks), impl) };
}
