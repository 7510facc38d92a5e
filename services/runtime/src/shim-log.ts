import { closeSync, constants, openSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { mknod, S_IFIFO } from '@flotilla/native';
import type { Logger } from '@flotilla/log';

/** The reading end of a shim's log pipe. */
export interface ShimLog {
  close(): void;
}

const LEVELS: Readonly<Record<string, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'>> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  warn: 'warn',
  error: 'error',
  fatal: 'fatal',
  panic: 'fatal',
};

/** Shims log logrus text lines (`time=... level=info msg="..."`): keep the shim's own level. */
function levelOf(line: string): (typeof LEVELS)[string] {
  const m = /\blevel=(\w+)/.exec(line);
  return (m && LEVELS[m[1] ?? '']) || 'info';
}

/**
 * Open `<bundle>/log`, the FIFO a shim writes its log to, creating it if needed, and relay each line into
 * this process's log. A runc shim refuses to run without a reader there, so it is opened before the shim
 * starts, and opened again when a restarted runtime takes the shim back. It is opened non-blocking, as
 * containerd does, so opening never waits for the shim; the relay ends when the shim closes its end.
 */
export async function openShimLog(bundlePath: string, log: Logger): Promise<ShimLog> {
  const path = join(bundlePath, 'log');
  try {
    await mknod(path, S_IFIFO | 0o700, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if (!(await lstat(path)).isFIFO()) throw err;
  }
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let pipe: Socket;
  try {
    // A FIFO is a pipe to libuv: reading it this way waits for data without a thread blocking on it.
    pipe = new Socket({ fd, readable: true, writable: false });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  pipe.on('error', (err) => log.debug({ err }, 'shim log pipe error'));
  const lines = createInterface({ input: pipe, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (line.trim() !== '') log[levelOf(line)]({ shimLog: line }, 'shim');
  });
  return {
    close() {
      lines.close();
      pipe.destroy();
    },
  };
}
