import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import type { Timestamp } from '@bufbuild/protobuf/wkt';
import { AnySchema, type Any } from '@bufbuild/protobuf/wkt';
import { InternalError, UnknownError } from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';
import { DeleteResponseSchema } from '@flotilla/proto/containerd/task/v2/shim_pb';
import { parseStartResponse, type BootstrapParams } from './bootstrap-params.js';
import type { Bundle } from './bundle.js';
import type { ShimAddresses } from './runtime-config.js';
import { runShimCommand, shimCommand, type ShimCommandResult } from './shim-command.js';

/** How a task's init process ended, as containerd's runtime.Exit. */
export interface Exit {
  readonly pid: number;
  readonly status: number;
  readonly exitedAt?: Timestamp;
}

export interface ShimBinaryOptions {
  bundle: Bundle;
  /** The resolved shim binary. */
  runtime: string;
  addresses: ShimAddresses;
  env: readonly string[];
  /** Pass -debug, as containerd does when it logs at debug level. */
  debug: boolean;
  log: Logger;
}

const START_TIMEOUT_MS = 30_000;
const DELETE_TIMEOUT_MS = 5_000;

function failure(verb: string, r: ShimCommandResult): Error {
  const output = Buffer.concat([r.stdout, r.stderr]).toString('utf8').trim();
  const how = r.signal !== null ? `signal: ${r.signal}` : `exit status ${r.code}`;
  return new UnknownError(`${verb}: ${output}${output === '' ? '' : ': '}${how}`);
}

/**
 * The shim binary's two commands, as containerd runs them: `start`, which leaves a shim serving the task
 * API and prints how to reach it, and `delete`, which cleans up after a shim that can no longer be asked.
 */
export interface ShimBinary {
  start(options: Any | undefined, signal?: AbortSignal): Promise<BootstrapParams>;
  delete(signal?: AbortSignal): Promise<Exit>;
}

export function shimBinary(o: ShimBinaryOptions): ShimBinary {
  const common = (args: string[]) => shimCommand({
    runtime: o.runtime,
    namespace: o.bundle.namespace,
    addresses: o.addresses,
    args: [...(o.debug ? ['-debug'] : []), ...args],
    cwd: o.bundle.path,
    env: o.env,
  });
  return {
    async start(options, signal) {
      const cmd = common(['-id', o.bundle.id, 'start']);
      // The shim's options go in on stdin, as an encoded Any.
      const stdin = options !== undefined ? toBinary(AnySchema, options) : undefined;
      const r = await runShimCommand(cmd, { stdin, signal, timeoutMs: START_TIMEOUT_MS });
      if (r.code !== 0) throw failure('start failed', r);
      // Kept so a restarted runtime runs the same binary's delete for this bundle.
      await writeFile(join(o.bundle.path, 'shim-binary-path'), o.runtime, { mode: 0o600 });
      const params = parseStartResponse(r.stdout.toString('utf8'));
      if (r.stderr.length > 0) o.log.debug({ stderr: r.stderr.toString('utf8').trim() }, 'shim start wrote to stderr');
      return params;
    },
    async delete(signal) {
      o.log.info({ id: o.bundle.id }, 'cleaning up dead shim');
      // `-bundle` as well as the working directory: shims for other systems read one or the other.
      const cmd = common(['-id', o.bundle.id, '-bundle', o.bundle.path, 'delete']);
      const r = await runShimCommand(cmd, { signal, timeoutMs: DELETE_TIMEOUT_MS });
      if (r.code !== 0) throw failure('failed to delete dead shim', r);
      if (r.stderr.length > 0) o.log.warn({ id: o.bundle.id, warnings: r.stderr.toString('utf8').trim() }, 'warnings while cleaning up dead shim');
      let res;
      try {
        res = fromBinary(DeleteResponseSchema, r.stdout);
      } catch (err) {
        throw new InternalError(`shim delete printed no DeleteResponse: ${(err as Error).message}`);
      }
      return { pid: res.pid, status: res.exitStatus, ...(res.exitedAt ? { exitedAt: res.exitedAt } : {}) };
    },
  };
}
