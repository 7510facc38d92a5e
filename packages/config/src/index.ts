export { parseConfig, loadConfig, defaultConfig, DEFAULT_CONFIG_PATH, type Config, type ProxyPluginConfig } from './config.js';
export { parseDuration } from './duration.js';
