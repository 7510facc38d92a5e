import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { create } from '@bufbuild/protobuf';
import { Health, HealthCheckRequestSchema, HealthCheckResponse_ServingStatus } from '@flotilla/proto/grpc/health/v1/health_pb';
import { clientOf, dialUnix } from '@flotilla/rpc/client';
import { createLogger } from '@flotilla/log';
import { remoteSnapshotter } from '@flotilla/snapshots';
import { createOverlaySnapshotter } from '@flotilla/service-snapshotter-overlay';
import { flotillaBin } from '../support/flotilla.js';
import { waitFor } from '../support/exec.js';
import { snapshotterSuite, type CaseSnapshotter, type SnapshotterTarget } from './suite.js';

// containerd's snapshotter conformance suite against each way Flotilla serves the overlayfs snapshotter:
// the snapshotter in this process, and the snapshotter-overlay plugin process over its own socket. Each
// case gets a snapshotter of its own, as in containerd: a fresh root here, a fresh process there.

const silent = () => createLogger({ service: 'snapshotter-overlay', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

snapshotterSuite('local overlayfs snapshotter', async (): Promise<SnapshotterTarget> => ({
  name: 'overlayfs',
  async open(): Promise<CaseSnapshotter> {
    const root = mkdtempSync(join(tmpdir(), 'snapshots-suite-local-'));
    const snapshotter = await createOverlaySnapshotter({ root, log: silent() }).catch((err: unknown) => {
      rmSync(root, { recursive: true, force: true });
      throw err;
    });
    return {
      snapshotter,
      async release() {
        await snapshotter.close();
        rmSync(root, { recursive: true, force: true });
      },
    };
  },
}));

/** `flotilla service snapshotter-overlay` on a socket of its own, and a proxy snapshotter to it. */
async function startProcess(): Promise<CaseSnapshotter> {
  const dir = mkdtempSync(join(tmpdir(), 'snapshots-suite-process-'));
  const socket = join(dir, 'snapshotter.sock');
  const logFile = join(dir, 'snapshotter.log');
  const out = openSync(logFile, 'a');
  const child = spawn(
    flotillaBin,
    ['service', 'snapshotter-overlay', '--address', socket, '--root', join(dir, 'root'), '--state', join(dir, 'state'), '--log-level', 'debug'],
    { stdio: ['ignore', out, out] },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const channel = dialUnix(socket);
  const stop = async () => {
    channel.close();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const health = clientOf(Health, channel);
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
      const res = await health.check(create(HealthCheckRequestSchema, {}), { signal: AbortSignal.timeout(2000) });
      return res.status === HealthCheckResponse_ServingStatus.SERVING;
    }, 'the snapshotter process to serve', 30_000);
  } catch (err) {
    const log = readFileSync(logFile, 'utf8');
    await stop();
    throw new Error(`snapshotter process did not start: ${String(err)}\n${log.slice(-4000)}`);
  }
  // The process answers for any snapshotter name; send containerd's, as the gateway does.
  return { snapshotter: remoteSnapshotter(channel, 'overlayfs'), release: stop };
}

snapshotterSuite('snapshotter-overlay process socket', async (): Promise<SnapshotterTarget> => ({
  name: 'overlayfs',
  open: startProcess,
}));
