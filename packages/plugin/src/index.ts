export { PluginType, proxyPluginTypes } from './types.js';
export { pluginUri, type Registration, type InitContext, type Platform, type WarmUpContext, type ScratchServer } from './registration.js';
export { SkipPluginError, isSkip } from './skip.js';
export { loadPlugins, orderByRequires, type LoadedPlugin, type LoadOptions } from './loader.js';
export {
  createIntrospectionService,
  loadOrCreateUuid,
  toProtoPlugin,
  type PluginRecord,
  type Deprecation,
  type IntrospectionSource,
} from './introspection.js';
export { startPluginProcess, type GrpcService, type PluginProcess, type ProcessOptions } from './host.js';
export { serviceNames, isServiceName, type ServiceName } from './services.js';
export { FLOTILLA_VERSION, API_VERSION } from './version.js';
export { reclaimMemoryWhenIdle, type IdleMemory, type IdleMemoryOptions, type ReclaimedMemory } from './idle-memory.js';
export { warmUpPlugins, type WarmUpOptions, type WarmUpReport } from './warm-up.js';
