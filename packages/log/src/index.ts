export { createLogger, normalizeLevel, type Logger, type LoggerOptions } from './logger.js';
