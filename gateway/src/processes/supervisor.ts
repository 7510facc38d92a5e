import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { create } from '@bufbuild/protobuf';
import { Health, HealthCheckRequestSchema, HealthCheckResponse_ServingStatus } from '@flotilla/proto/grpc/health/v1/health_pb';
import type { Logger } from '@flotilla/log';
import { clientOf, dialH2, type H2Channel } from '@flotilla/rpc/client';

export interface ProcessSpec {
  /** Service name, e.g. `content`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** The Unix socket the process serves on. */
  readonly socket: string;
}

export type ProcessState = 'starting' | 'running' | 'backoff' | 'stopped';

export interface SupervisorOptions {
  log: Logger;
  /** First restart delay; doubles per consecutive failure up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long a fresh process has to answer health before it is killed and retried. */
  startTimeoutMs?: number;
  /** Interval of liveness checks while running; three misses in a row restart the process. */
  livenessMs?: number;
}

/** A plugin process the gateway runs and keeps running. */
export interface Supervised {
  readonly name: string;
  readonly socket: string;
  /** One channel for the process's lifetime (our own HTTP/2 client, no grpc-js): it reconnects across restarts. */
  readonly h2: H2Channel;
  state(): ProcessState;
  pid(): number | undefined;
  restarts(): number;
  /** Why the process is not running, when it is not. */
  lastError(): string | undefined;
  /** Resolves when the process answers health (now or after the current restart). */
  ready(signal?: AbortSignal): Promise<void>;
  /** Called every time the process becomes healthy. */
  onReady(listener: () => void): void;
  stop(graceMs?: number): Promise<void>;
}

/**
 * Run a plugin process and restart it with exponential backoff whenever it exits or stops answering
 * health. The child learns of the gateway's death from its stdin pipe closing, so no process outlives
 * the gateway that started it.
 */
export function supervise(spec: ProcessSpec, opts: SupervisorOptions): Supervised {
  const log = opts.log.child({ process: spec.name });
  const initialBackoff = opts.initialBackoffMs ?? 100;
  const maxBackoff = opts.maxBackoffMs ?? 10_000;
  const startTimeout = opts.startTimeoutMs ?? 15_000;
  const liveness = opts.livenessMs ?? 2_000;
  const h2 = dialH2(spec.socket);
  const health = clientOf(Health, h2);
  const check = create(HealthCheckRequestSchema, { service: '' });

  let state: ProcessState = 'starting';
  let child: ChildProcess | undefined;
  let restarts = 0;
  let failures = 0;
  let lastError: string | undefined = 'starting';
  let waiters: (() => void)[] = [];
  const readyListeners: (() => void)[] = [];
  const life = new AbortController();

  const healthy = async (timeoutMs: number): Promise<boolean> => {
    try {
      const res = await health.check(check, { signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), life.signal]) });
      return res.status === HealthCheckResponse_ServingStatus.SERVING;
    } catch {
      return false;
    }
  };

  const runOnce = async (): Promise<string> => {
    state = 'starting';
    const proc = spawn(spec.command, spec.args, {
      stdio: ['pipe', 'inherit', 'inherit'],
      env: { ...process.env, FLOTILLA_PARENT_PIPE: '1' },
    });
    child = proc;
    const exited = new Promise<string>((resolve) => {
      proc.once('exit', (code, signal) => resolve(signal ? `exited with signal ${signal}` : `exited with status ${code}`));
      proc.once('error', (err) => resolve(`could not start: ${err.message}`));
    });
    proc.stdin?.on('error', () => {}); // the child may die before reading; EPIPE is expected then
    log.debug({ child: proc.pid }, 'process started');

    const deadline = Date.now() + startTimeout;
    let up = false;
    let stillRunning = true;
    void exited.then(() => { stillRunning = false; });
    while (!up && stillRunning && Date.now() < deadline && !life.signal.aborted) {
      up = await healthy(1000);
      if (!up) await sleep(50);
    }
    if (!up) {
      // Stopping while it starts is not a fault: stop() ends the process gently.
      if (stillRunning && !life.signal.aborted) {
        log.error({ child: proc.pid }, 'process did not become healthy in time; killing');
        proc.kill('SIGKILL');
      }
      return exited;
    }
    const startedAt = Date.now();
    state = 'running';
    lastError = undefined;
    log.info({ child: proc.pid, restarts }, 'process ready');
    for (const w of waiters) w();
    waiters = [];
    for (const l of readyListeners) l();

    let misses = 0;
    const watch = (async () => {
      while (stillRunning && !life.signal.aborted) {
        await Promise.race([sleep(liveness, undefined, { signal: life.signal }).catch(() => {}), exited]);
        if (!stillRunning || life.signal.aborted) break;
        misses = (await healthy(liveness)) ? 0 : misses + 1;
        if (misses >= 3) {
          log.error({ child: proc.pid }, 'process stopped answering health; killing');
          proc.kill('SIGKILL');
          break;
        }
      }
    })();
    const reason = await exited;
    await watch;
    if (Date.now() - startedAt > 30_000) failures = 0; // it ran well; the next failure starts backoff over
    return reason;
  };

  const loop = (async () => {
    while (!life.signal.aborted) {
      const reason = await runOnce();
      child = undefined;
      if (life.signal.aborted) break;
      failures++;
      restarts++;
      const delay = Math.min(maxBackoff, initialBackoff * 2 ** (failures - 1));
      state = 'backoff';
      lastError = `plugin process ${spec.name} ${reason}; restarting in ${delay}ms`;
      log.warn({ reason, delay, restarts }, 'process down');
      await sleep(delay, undefined, { signal: life.signal }).catch(() => {});
    }
    state = 'stopped';
  })();

  return {
    name: spec.name,
    socket: spec.socket,
    h2,
    state: () => state,
    pid: () => child?.pid,
    restarts: () => restarts,
    lastError: () => lastError,
    ready(signal) {
      if (state === 'running') return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const done = () => resolve();
        waiters.push(done);
        signal?.addEventListener('abort', () => {
          waiters = waiters.filter((w) => w !== done);
          reject(signal.reason);
        }, { once: true });
      });
    },
    onReady(listener) {
      readyListeners.push(listener);
    },
    async stop(graceMs = 5000) {
      life.abort();
      const proc = child;
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        await gone;
        clearTimeout(timer);
      }
      await loop;
      h2.close();
      lastError = 'stopped';
    },
  };
}

/**
 * A plugin process someone else runs (under a debugger, in its own container): the gateway only connects
 * to its socket and follows its health, exactly as for a supervised one, but never starts or stops it.
 */
export function attach(name: string, socket: string, opts: Pick<SupervisorOptions, 'log' | 'livenessMs'>): Supervised {
  const log = opts.log.child({ process: name, attached: socket });
  const h2 = dialH2(socket);
  const health = clientOf(Health, h2);
  const life = new AbortController();
  let state: ProcessState = 'starting';
  let lastError: string | undefined = `plugin process ${name} at ${socket} has not answered yet`;
  let waiters: (() => void)[] = [];
  const readyListeners: (() => void)[] = [];
  const loop = (async () => {
    while (!life.signal.aborted) {
      let up = false;
      try {
        const res = await health.check(create(HealthCheckRequestSchema, {}), { signal: AbortSignal.any([AbortSignal.timeout(2000), life.signal]) });
        up = res.status === HealthCheckResponse_ServingStatus.SERVING;
      } catch (err) {
        if (!life.signal.aborted) lastError = `plugin process ${name} at ${socket} is not answering: ${(err as Error).message}`;
      }
      if (up && state !== 'running') {
        state = 'running';
        lastError = undefined;
        log.info('attached process ready');
        for (const w of waiters) w();
        waiters = [];
        for (const l of readyListeners) l();
      } else if (!up && state === 'running') {
        state = 'backoff';
        log.warn('attached process down');
      }
      await sleep(up ? (opts.livenessMs ?? 2000) : 250, undefined, { signal: life.signal }).catch(() => {});
    }
    state = 'stopped';
  })();
  return {
    name,
    socket,
    h2,
    state: () => state,
    pid: () => undefined,
    restarts: () => 0,
    lastError: () => lastError,
    ready: (signal) => state === 'running' ? Promise.resolve() : new Promise<void>((resolve, reject) => {
      waiters.push(resolve);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    }),
    onReady: (l) => { readyListeners.push(l); },
    async stop() {
      life.abort();
      await loop;
      h2.close();
    },
  };
}
