import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /** pino level; containerd's names (trace, debug, info, warn, error, fatal, panic) are accepted. */
  level?: string;
  /** Becomes the `service` field on every line, so the cluster's logs can be merged and still told apart. */
  service: string;
  /** Write somewhere other than stderr (tests). */
  destination?: NodeJS.WritableStream;
}

/** containerd accepts "panic"; pino has no such level, and "fatal" means the same to an operator. */
export function normalizeLevel(level: string | undefined): LevelWithSilent {
  const l = (level ?? 'info').toLowerCase();
  if (l === 'panic') return 'fatal';
  if (['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(l)) return l as LevelWithSilent;
  if (l === 'warning') return 'warn';
  throw new RangeError(`unknown log level ${JSON.stringify(level)}`);
}

/**
 * One root logger per process. Logs go to stderr as JSON lines (the gateway relays a child process's stderr
 * into its own log), synchronously so that a crash never loses the line explaining it.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const dest = opts.destination ?? pino.destination({ fd: 2, sync: true });
  return pino(
    {
      level: normalizeLevel(opts.level),
      base: { service: opts.service, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Never let a credential reach a log line, whatever the caller passes in.
      redact: {
        paths: ['password', 'secret', 'token', 'auth', 'authorization', '*.password', '*.secret', '*.token', '*.auth', '*.authorization', 'headers.authorization'],
        censor: '[redacted]',
      },
    },
    dest,
  );
}
