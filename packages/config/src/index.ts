export { configFromDocument, defaultConfig, DEFAULT_CONFIG_PATH, type Config, type ProxyPluginConfig } from './config.js';
export { parseConfig, loadConfig, CONFIG_VERSION, type LoadOptions, type LoadedConfig } from './load.js';
export { defaultDocument, renderDefaultConfig, renderEffectiveConfig, renderMigratedConfig } from './default-config.js';
export type { MigrationReport, MigrationMove, ConfigWarning, DeprecationNotice, GeneratedFile } from './migration-report.js';
export {
  DeprecationId,
  deprecationMessages,
  createDeprecationLog,
  type DeprecationLog,
  type DeprecationEntry,
} from './deprecations.js';
export {
  RUNC_V2,
  removedRuntime,
  validateRuntimeName,
  removedSnapshotter,
  rejectRemovedSnapshotter,
  SCHEMA1_MEDIA_TYPES,
  rejectSchema1MediaType,
  CRI_V1ALPHA2_SERVICES,
  CRI_V1ALPHA2_MESSAGE,
} from './removed-features.js';
export { restartLogUri, RESTART_LOG_URI_LABEL, RESTART_LOG_PATH_LABEL, type RestartLogUri } from './restart-log-uri.js';
export { pluginSections, sectionSpec, type SectionSpec, type KeySpec } from './sections.js';
export { CRI_GRPC, CRI_IMAGES, CRI_RUNTIME } from './cri-sections.js';
export { formatToml } from './toml-writer.js';
export { parseToml, locateKey } from './toml-text.js';
export { formatKey, getPath, isZero, leaves, type Table } from './table.js';
export { parseDuration } from './duration.js';
export { reclaimIdleMemory, warmUpProcesses } from './process-settings.js';
