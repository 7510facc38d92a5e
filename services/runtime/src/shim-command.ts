import { CanceledError, DeadlineExceededError, UnavailableError } from '@flotilla/errdefs';
import { runCommand } from '@flotilla/native';
import type { ShimAddresses } from './runtime-config.js';

/** One run of a shim binary: `start` or `delete`. */
export interface ShimCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
}

export interface ShimCommandOptions {
  /** The shim binary. */
  runtime: string;
  namespace: string;
  addresses: ShimAddresses;
  /** Arguments after containerd's common ones (`-id ID ... start`). */
  args: readonly string[];
  /** The bundle: every shim command runs in it. */
  cwd: string;
  /** Extra `KEY=VALUE` entries from the configuration. */
  env?: readonly string[];
}

/**
 * The command line and environment containerd gives a shim: `-namespace NS -address ADDR
 * -publish-binary BIN` then the command's own arguments, in the bundle directory, with the daemon's
 * environment plus what the shim protocol defines (the addresses it reports to, the namespace, the
 * highest task API version the daemon speaks).
 */
export function shimCommand(o: ShimCommandOptions): ShimCommand {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GOMAXPROCS: '2',
    MAX_SHIM_VERSION: '2',
    TTRPC_ADDRESS: o.addresses.ttrpcAddress,
    GRPC_ADDRESS: o.addresses.address,
    NAMESPACE: o.namespace,
  };
  for (const e of o.env ?? []) {
    const eq = e.indexOf('=');
    env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return {
    command: o.runtime,
    args: ['-namespace', o.namespace, '-address', o.addresses.address, '-publish-binary', o.addresses.publishBinary, ...o.args],
    cwd: o.cwd,
    env,
  };
}

export interface ShimCommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

/**
 * Run a shim command to completion. It gets a process group of its own, as containerd gives it, so a
 * signal meant for this process's group never reaches the shim the command leaves running. `stdin` is
 * what the shim reads its options from.
 *
 * The process is created by the native addon's posix_spawn on a thread of its own: child_process.spawn
 * forks the whole runtime process on the main thread, milliseconds per task started.
 */
export async function runShimCommand(cmd: ShimCommand, opts: { stdin?: Uint8Array; signal?: AbortSignal; timeoutMs: number }): Promise<ShimCommandResult> {
  const what = `${cmd.command} ${cmd.args.at(-1) ?? ''}`;
  const env = Object.entries(cmd.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  const child = runCommand(cmd.command, [cmd.command, ...cmd.args], env, {
    cwd: cmd.cwd,
    newProcessGroup: true,
    ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}),
  });
  let failure: Error | undefined;
  // The whole group: whatever the command started in it would keep its output open. A shim it launched
  // has a group of its own and is not touched. Before the process exists the kill waits for it.
  const stop = (e: Error) => {
    failure ??= e;
    child.kill('SIGKILL');
  };
  const onAbort = () => stop(new CanceledError(`${what}: canceled`));
  const timer = setTimeout(() => stop(new DeadlineExceededError(`${what}: no answer within ${opts.timeoutMs}ms`)), opts.timeoutMs);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let r;
  try {
    r = await child.result;
  } catch (e) {
    // Not started: a missing or unusable binary or bundle directory.
    throw failure ?? new UnavailableError(`run ${cmd.command}: ${(e as Error).message}`, { cause: e });
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
  if (failure !== undefined) throw failure;
  return { code: r.code, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
