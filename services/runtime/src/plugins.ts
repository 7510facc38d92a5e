import { PluginType, type Registration } from '@flotilla/plugin';
import { defaultRuntimeConfig, type RuntimeConfig } from './runtime-config.js';
import { startRuntime, type Runtime } from './runtime.js';
import { tasksService } from './task-service.js';

/**
 * What `flotilla service runtime` hosts: the runtime v2 shim manager as io.containerd.runtime.v2.task
 * (containerd's type and id, so its config section and introspection read the same) and the tasks service
 * on top of it. The gateway relays containerd.services.tasks.v1 here unchanged.
 */
export const runtimePlugins: Registration[] = [
  {
    type: PluginType.RuntimeV2,
    id: 'task',
    config: defaultRuntimeConfig,
    platforms: [{ os: 'linux', architecture: process.arch === 'x64' ? 'amd64' : process.arch }],
    init: async (ctx) => {
      const runtime = await startRuntime({
        root: ctx.root,
        state: ctx.state,
        config: ctx.config as RuntimeConfig,
        peers: ctx.peers,
        log: ctx.log,
      });
      ctx.exports['ttrpc_address'] = runtime.ttrpcAddress;
      return runtime;
    },
  },
  {
    type: PluginType.GRPC,
    id: 'tasks',
    requires: [PluginType.RuntimeV2],
    init: (ctx) => {
      const runtime = ctx.get<Runtime>(PluginType.RuntimeV2, 'task');
      return tasksService({ tasks: runtime.tasks, containers: runtime.containers, log: ctx.log });
    },
  },
];
