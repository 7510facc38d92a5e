import { afterAll, beforeAll } from 'vitest';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mount, umount2, MNT } from '../index.js';
import type { NativeError } from '../index.js';

export { treeSnapshot, type TreeEntry } from './tree-snapshot.js';

/** Mounting needs root; the root-only suites skip themselves otherwise. */
export const isRoot = process.getuid?.() === 0;

/**
 * The rejection of `p`, or a failure if it resolves. Test code of every package that calls the addon uses
 * these helpers (`@flotilla/native/test-support`, never part of a build).
 */
export async function rejection<E extends Error = NativeError>(p: Promise<unknown>): Promise<E> {
  try {
    await p;
  } catch (e) {
    return e as E;
  }
  throw new Error('expected the promise to reject');
}

/**
 * Give the calling suite a tmpfs of its own for the duration of the suite, so nothing depends on what the
 * host's temp dir supports (xattr namespaces, overlay layers, device nodes). Returns a getter for its
 * path; call it inside tests.
 */
export function suiteTmpfs(prefix: string, size = '512m'): () => string {
  let base = '';
  let fsdir = '';
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), `flotilla-${prefix}-`));
    fsdir = join(base, 'fs');
    await mkdir(fsdir);
    await mount('tmpfs', fsdir, 'tmpfs', 0, `size=${size}`);
  });
  afterAll(async () => {
    if (fsdir) await umount2(fsdir, MNT.MNT_DETACH).catch(() => {});
    if (base) await rm(base, { recursive: true, force: true });
  });
  return () => fsdir;
}
