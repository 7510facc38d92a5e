import { access, constants, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '@flotilla/errdefs';

/** The runtime every container gets unless it names another. */
export const DEFAULT_RUNTIME = 'io.containerd.runc.v2';

/**
 * A runtime name's shim binary: `io.containerd.runc.v2` is `containerd-shim-runc-v2` (the last two
 * dot-separated parts). Empty when the name does not have that shape.
 */
export function shimBinaryName(runtime: string): string {
  const parts = runtime.split('.');
  if (parts.length < 2 || parts[0] === '') return '';
  return `containerd-shim-${parts[parts.length - 2]}-${parts[parts.length - 1]}`;
}

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export interface RuntimeResolver {
  /** The shim binary to run for a runtime name, or an absolute path given as the runtime itself. */
  resolve(runtime: string): Promise<string>;
}

/**
 * containerd's lookup: an absolute path is used as it is; a name becomes a binary name looked for in the
 * working directory, then on PATH. Answers are cached per binary name, as binaries do not move.
 */
export function runtimeResolver(env: NodeJS.ProcessEnv = process.env): RuntimeResolver {
  const cache = new Map<string, string>();
  return {
    async resolve(runtime) {
      if (runtime === '') throw new InvalidArgumentError('no runtime name');
      if (isAbsolute(runtime)) {
        if (!(await executable(runtime))) throw new NotFoundError(`invalid custom binary path ${runtime}`);
        return runtime;
      }
      const name = runtime.includes('/') ? '' : shimBinaryName(runtime);
      if (name === '') {
        throw new InvalidArgumentError(
          `invalid runtime name ${runtime}, correct runtime name should be either format like \`io.containerd.runc.v2\` or a full path to the binary`,
        );
      }
      const hit = cache.get(name);
      if (hit !== undefined) return hit;
      const candidates = [resolve(name), ...(env['PATH'] ?? '').split(delimiter).filter((d) => d !== '').map((d) => join(d, name))];
      for (const c of candidates) {
        if (await executable(c)) {
          cache.set(name, c);
          return c;
        }
      }
      throw new NotFoundError(`runtime ${JSON.stringify(runtime)} binary not installed ${JSON.stringify(name)}`);
    },
  };
}
