import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create } from '@bufbuild/protobuf';
import {
  Introspection,
  PluginsRequestSchema,
  type Plugin,
} from '@flotilla/proto/containerd/services/introspection/v1/introspection_pb';
import { clientOf, dialUnix } from '@flotilla/rpc/client';
import type { Channel } from 'nice-grpc';
import { run, waitFor, type ExecResult } from './exec.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const flotillaBin = join(repoRoot, 'bin/flotilla');

export interface Flotilla {
  readonly dir: string;
  readonly address: string;
  readonly root: string;
  readonly state: string;
  readonly channel: Channel;
  /** `ctr -a <gateway socket> ...args` */
  ctr(args: readonly string[], opts?: { namespace?: string }): Promise<ExecResult>;
  plugins(): Promise<Plugin[]>;
  /** The pid the gateway reports for a plugin process. */
  processPid(name: string): Promise<number>;
  /** Resolves once every plugin process reports ok. */
  allReady(timeoutMs?: number): Promise<void>;
  log(): string;
  daemon: ChildProcess;
  /** Start the daemon again on the same directories and socket (after it was killed), and wait for it. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra TOML appended to the test's config file. */
  extraConfig?: string;
  /** The whole config file (any version) instead of the test's own; extraConfig is still appended. */
  config?: string;
  logLevel?: string;
}

/** Start `bin/flotilla daemon` with private root, state and socket, and wait until its cluster is up. */
export async function startFlotilla(opts: StartOptions = {}): Promise<Flotilla> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-test-'));
  const address = join(dir, 'flotilla.sock');
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    `${opts.config ?? `version = 3
# Long enough that a test sees a killed plugin process as down before it is back.
[plugins."io.flotilla.process.v1"]
  initial_backoff = "1500ms"`}
${opts.extraConfig ?? ''}
`,
  );
  const logFile = join(dir, 'daemon.log');
  const out = openSync(logFile, 'a');
  const spawnDaemon = () => spawn(
    flotillaBin,
    ['daemon', '--config', config, '--root', root, '--state', state, '--address', address, '--log-level', opts.logLevel ?? process.env['FLOTILLA_TEST_LOG_LEVEL'] ?? 'info'],
    { stdio: ['ignore', out, out] },
  );
  const daemon = spawnDaemon();
  let exited = new Promise<void>((r) => daemon.once('exit', () => r()));
  const channel = dialUnix(address);
  const introspection = clientOf(Introspection, channel);

  const f: Flotilla = {
    dir,
    address,
    root,
    state,
    channel,
    daemon,
    ctr: (args, o) => run('ctr', ['-a', address, ...(o?.namespace ? ['-n', o.namespace] : []), ...args]),
    plugins: async () => (await introspection.plugins(create(PluginsRequestSchema, {}))).plugins,
    async processPid(name) {
      const p = (await f.plugins()).find((x) => x.type === 'io.flotilla.process.v1' && x.id === name);
      const pid = Number(p?.exports['pid']);
      if (!p || !Number.isInteger(pid) || pid <= 0) throw new Error(`no pid for process ${name}`);
      return pid;
    },
    async allReady(timeoutMs = 60_000) {
      await waitFor(async () => {
        const ps = (await f.plugins()).filter((p) => p.type === 'io.flotilla.process.v1');
        return ps.length > 0 && ps.every((p) => p.initErr === undefined);
      }, 'every plugin process to be ready', timeoutMs);
    },
    log: () => readFileSync(logFile, 'utf8'),
    async restart() {
      if (f.daemon.exitCode === null && f.daemon.signalCode === null) throw new Error('the daemon is still running');
      const next = spawnDaemon();
      exited = new Promise<void>((r) => next.once('exit', () => r()));
      f.daemon = next;
      await f.allReady();
    },
    async stop() {
      channel.close();
      const daemon = f.daemon;
      if (daemon.exitCode === null && daemon.signalCode === null) {
        daemon.kill('SIGTERM');
        const timer = setTimeout(() => daemon.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      // FLOTILLA_TEST_KEEP=1 leaves the directories (and daemon.log) for a look after a failure.
      if (process.env['FLOTILLA_TEST_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await f.allReady();
  } catch (err) {
    const log = f.log();
    await f.stop();
    throw new Error(`flotilla did not start: ${String(err)}\n${log.slice(-4000)}`);
  }
  return f;
}
