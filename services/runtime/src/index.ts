export { runtimePlugins } from './plugins.js';
export { startRuntime, type Runtime, type RuntimeOptions } from './runtime.js';
export { tasksService, type TasksServiceOptions } from './task-service.js';
export { defaultRuntimeConfig, type RuntimeConfig } from './runtime-config.js';
export type { ContainerLookup } from './containers.js';
export type { EventSink } from './event-sink.js';
export { shimBinaryName, DEFAULT_RUNTIME } from './runtime-binary.js';
