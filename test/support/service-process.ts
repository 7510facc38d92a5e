import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import type { Channel } from 'nice-grpc';
import { Health, HealthCheckRequestSchema, HealthCheckResponse_ServingStatus } from '@flotilla/proto/grpc/health/v1/health_pb';
import { clientOf, dialUnix } from '@flotilla/rpc/client';
import { waitFor } from './exec.js';
import { flotillaBin } from './flotilla.js';

/** One `flotilla service <name>` process on a socket of its own, as an operator debugging it runs it. */
export interface ServiceProcess {
  readonly dir: string;
  readonly socket: string;
  readonly root: string;
  readonly channel: Channel;
  readonly process: ChildProcess;
  log(): string;
  /** SIGTERM (SIGKILL after 10 s), then remove its directories. */
  stop(): Promise<void>;
}

/** Start a plugin process with private root and state, and wait until it answers health. */
export async function startServiceProcess(name: string, opts: { logLevel?: string } = {}): Promise<ServiceProcess> {
  const dir = mkdtempSync(join(tmpdir(), `service-${name}-`));
  const socket = join(dir, `${name}.sock`);
  const root = join(dir, 'root');
  const logFile = join(dir, `${name}.log`);
  const out = openSync(logFile, 'a');
  const child = spawn(
    flotillaBin,
    ['service', name, '--address', socket, '--root', root, '--state', join(dir, 'state'), '--log-level', opts.logLevel ?? 'debug'],
    { stdio: ['ignore', out, out] },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const channel = dialUnix(socket);
  const p: ServiceProcess = {
    dir,
    socket,
    root,
    channel,
    process: child,
    log: () => readFileSync(logFile, 'utf8'),
    async stop() {
      channel.close();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    const health = clientOf(Health, channel);
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
      const res = await health.check(create(HealthCheckRequestSchema, {}), { signal: AbortSignal.timeout(2000) });
      return res.status === HealthCheckResponse_ServingStatus.SERVING;
    }, `the ${name} process to serve`, 30_000);
  } catch (err) {
    const log = p.log();
    await p.stop();
    throw new Error(`${name} process did not start: ${String(err)}\n${log.slice(-4000)}`);
  }
  return p;
}
