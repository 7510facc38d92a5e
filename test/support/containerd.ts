import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, waitFor, type ExecResult } from './exec.js';

/** Debian's containerd, started with private directories, as the reference a test compares against. */
export interface Containerd {
  readonly dir: string;
  readonly address: string;
  readonly root: string;
  ctr(args: readonly string[], opts?: { namespace?: string }): Promise<ExecResult>;
  log(): string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface ContainerdOptions {
  /** Extra TOML (version 2 syntax) appended to the config. */
  extraConfig?: string;
  /** Plugins to disable besides CRI. */
  disabledPlugins?: readonly string[];
}

export async function startContainerd(opts: ContainerdOptions = {}): Promise<Containerd> {
  const dir = mkdtempSync(join(tmpdir(), 'containerd-ref-'));
  const address = join(dir, 'containerd.sock');
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    `version = 2
root = "${root}"
state = "${state}"
# The CRI plugin is for the kubelet; it only slows start-up here.
disabled_plugins = ${JSON.stringify(['io.containerd.grpc.v1.cri', ...(opts.disabledPlugins ?? [])])}
[grpc]
  address = "${address}"
[ttrpc]
  address = "${address}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "${join(dir, 'opt')}"
${opts.extraConfig ?? ''}
`,
  );
  const logFile = join(dir, 'containerd.log');
  const out = openSync(logFile, 'a');
  const proc = spawn('containerd', ['--config', config], { stdio: ['ignore', out, out] });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const c: Containerd = {
    dir,
    address,
    root,
    process: proc,
    ctr: (args, o) => run('ctr', ['-a', address, ...(o?.namespace ? ['-n', o.namespace] : []), ...args]),
    log: () => readFileSync(logFile, 'utf8'),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(async () => (await c.ctr(['version'])).code === 0, 'containerd to answer', 30_000);
  } catch (err) {
    const log = c.log();
    await c.stop();
    throw new Error(`containerd did not start: ${String(err)}\n${log.slice(-4000)}`);
  }
  return c;
}
