import { chmod, chown, mkdir, readlink, rename, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { validateIdentifier } from '@flotilla/rpc';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { unmountAll } from '@flotilla/snapshots';

/**
 * An OCI bundle as containerd lays it out for a shim: the bundle itself under the state directory
 * (`<state>/<namespace>/<id>`: config.json, an empty rootfs/ the shim mounts onto, and whatever the shim
 * keeps there), and a persistent work directory under the root (`<root>/<namespace>/<id>`), linked from
 * the bundle as `work`.
 */
export interface Bundle {
  readonly id: string;
  readonly namespace: string;
  readonly path: string;
}

export function bundlePath(state: string, namespace: string, id: string): string {
  return join(state, namespace, id);
}

/** A bundle that already exists on disk (recovery). */
export function loadBundle(state: string, namespace: string, id: string): Bundle {
  return { id, namespace, path: bundlePath(state, namespace, id) };
}

export interface NewBundleOptions {
  root: string;
  state: string;
  namespace: string;
  id: string;
  /** The container's OCI spec (JSON), written as config.json; a bundle may have none. */
  spec?: Uint8Array;
}

/** With user namespaces, the remapped root group must be able to reach the bundle. */
function remappedRootGid(spec: Uint8Array): number {
  let parsed: { linux?: { gidMappings?: { containerID?: number; hostID?: number }[] } };
  try {
    parsed = JSON.parse(Buffer.from(spec).toString('utf8')) as typeof parsed;
  } catch (err) {
    throw new InvalidArgumentError(`container spec is not valid JSON: ${(err as Error).message}`);
  }
  for (const m of parsed.linux?.gidMappings ?? []) if (m.containerID === 0) return m.hostID ?? 0;
  return 0;
}

/** Create a bundle; a stale one left by a crash under the same id is replaced. */
export async function createBundle(opts: NewBundleOptions): Promise<Bundle> {
  try {
    validateIdentifier(opts.id);
  } catch (err) {
    throw new InvalidArgumentError(`invalid task id ${opts.id}: ${(err as Error).message}`, { cause: err });
  }
  const b: Bundle = { id: opts.id, namespace: opts.namespace, path: bundlePath(opts.state, opts.namespace, opts.id) };
  const work = join(opts.root, opts.namespace, opts.id);
  const made: string[] = [];
  try {
    await mkdir(dirname(b.path), { recursive: true, mode: 0o711 });
    await freshDir(b.path, 0o700);
    made.push(b.path);
    if (opts.spec !== undefined) {
      const gid = remappedRootGid(opts.spec);
      if (gid !== 0) {
        await chown(b.path, -1, gid);
        await chmod(b.path, 0o710);
      }
    }
    await mkdir(dirname(work), { recursive: true, mode: 0o711 });
    await mkdir(join(b.path, 'rootfs'), { mode: 0o711 });
    await freshDir(work, 0o711);
    made.push(work);
    await symlink(work, join(b.path, 'work'));
    if (opts.spec !== undefined) await writeFile(join(b.path, 'config.json'), opts.spec, { mode: 0o666 });
    return b;
  } catch (err) {
    for (const d of made) await rm(d, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

async function freshDir(path: string, mode: number): Promise<void> {
  try {
    await mkdir(path, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    await rm(path, { recursive: true, force: true });
    await mkdir(path, { mode });
  }
}

/**
 * Rename to a hidden name first, then remove: a crash half-way leaves a dot-directory that recovery
 * skips, never a half-deleted bundle it would try to load.
 */
async function atomicDelete(path: string): Promise<void> {
  const hidden = join(dirname(path), `.${basename(path)}`);
  try {
    await rename(path, hidden);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await rm(hidden, { recursive: true, force: true });
}

/**
 * Remove a bundle and its work directory. The runtime mounts nothing, but a shim that died before
 * unmounting leaves the rootfs mounted, and deleting through a live mount would delete the container's
 * files: so whatever is still mounted there is unmounted first.
 */
export async function deleteBundle(b: Bundle): Promise<void> {
  let work: string | undefined;
  try {
    work = await readlink(join(b.path, 'work'));
  } catch {
    work = undefined;
  }
  const rootfs = join(b.path, 'rootfs');
  await unmountAll(rootfs);
  try {
    await rmdir(rootfs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await atomicDelete(b.path);
  if (work !== undefined) await atomicDelete(work);
}

/** Stale hidden leftovers of an interrupted delete, removed at recovery. */
export async function removeHidden(dir: string, name: string): Promise<void> {
  if (name.startsWith('.')) await rm(join(dir, name), { recursive: true, force: true });
}
