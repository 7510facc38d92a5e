import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NotFoundError, NotImplementedError } from '@flotilla/errdefs';

/** The shim task API versions this runtime speaks (containerd.task.v2 and .v3 share their messages). */
export const CURRENT_SHIM_VERSION = 3;

/** How to reach a shim, as its `start` command reports it and bootstrap.json keeps it. */
export interface BootstrapParams {
  /** Task API version: 2 or 3. */
  readonly version: number;
  /** e.g. unix:///run/containerd/s/<hash> */
  readonly address: string;
  /** "ttrpc" or "grpc". */
  readonly protocol: string;
}

/**
 * Read what a shim's `start` printed. Shims of containerd 1.x print a bare address; newer ones print JSON
 * with a version of 2 or more. Anything that is not such JSON is taken as the old form, as containerd does.
 */
export function parseStartResponse(output: string): BootstrapParams {
  const text = output.trim();
  let params: BootstrapParams | undefined;
  try {
    const v = JSON.parse(text) as Partial<BootstrapParams> | null;
    if (v !== null && typeof v === 'object' && typeof v.version === 'number' && v.version >= 2) {
      params = { version: v.version, address: String(v.address ?? ''), protocol: String(v.protocol ?? '') };
    }
  } catch {
    // the legacy form
  }
  params ??= { version: 2, address: text, protocol: 'ttrpc' };
  if (params.version > CURRENT_SHIM_VERSION) {
    throw new NotImplementedError(`unsupported shim version (${params.version})`);
  }
  return params;
}

const BOOTSTRAP = 'bootstrap.json';
const ADDRESS = 'address';

/** Keep how to reach the shim in its bundle, so a restarted runtime finds it again. */
export async function writeBootstrapParams(bundlePath: string, params: BootstrapParams): Promise<void> {
  const path = join(bundlePath, BOOTSTRAP);
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify({ version: params.version, address: params.address, protocol: params.protocol }), { mode: 0o666 });
  await rename(tmp, path);
}

/**
 * How to reach the shim of an existing bundle: bootstrap.json, or for a bundle made before it existed the
 * `address` file the shim itself wrote (then bootstrap.json is written from it).
 */
export async function restoreBootstrapParams(bundlePath: string): Promise<BootstrapParams> {
  try {
    return parseStartResponse(await readFile(join(bundlePath, BOOTSTRAP), 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const address = (await readFile(join(bundlePath, ADDRESS), 'utf8')).trim();
  if (address === '') throw new NotFoundError(`no shim address in ${join(bundlePath, ADDRESS)}`);
  const params = { version: 2, address, protocol: 'ttrpc' };
  await writeBootstrapParams(bundlePath, params);
  return params;
}
