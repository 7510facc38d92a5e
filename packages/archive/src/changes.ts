import type { BigIntStats } from 'node:fs';
import { open, readlink } from 'node:fs/promises';
import { lgetxattr } from '@flotilla/native';
import { walkTree, type WalkEntry } from './tree-walker.js';

/**
 * What changed between two directory trees, in containerd's terms (continuity's fs.Changes): entries of
 * the upper tree that are new, modified or (for hardlinks) unmodified but needed to keep link groups
 * whole, and entries of the lower tree that are gone. Changes come in walk order, so applying them in
 * order rebuilds the upper tree; a deleted directory is one change (its contents are implied).
 */
export type ChangeKind = 'add' | 'modify' | 'delete' | 'unmodified';

export interface Change {
  readonly kind: ChangeKind;
  /** Relative path ("a/b"). */
  readonly path: string;
  /** The upper tree's entry (absent for deletions). */
  readonly stat?: BigIntStats;
  /**
   * Set by the overlay walk: the directory is opaque, nothing of the lower tree shows through it (a layer
   * writes `.wh..wh..opq` into it).
   */
  readonly opaque?: boolean;
}

/**
 * The changes from `lower` to `upper` by walking both trees side by side and comparing entries with the
 * same path: metadata first (mode, owner, device, capabilities, size, mtime), file contents or link
 * targets only when the mtimes cannot tell (both with zero nanoseconds, as after extraction from a tar).
 */
export async function* doubleWalkChanges(lower: string, upper: string): AsyncGenerator<Change> {
  const a = await walkTree(lower);
  const b = await walkTree(upper);
  // A directory of the lower tree that is gone or became something else: what is under it is gone too,
  // without a change of its own.
  let removedDir: string | undefined;
  for (;;) {
    const f1 = a.current;
    const f2 = b.current;
    if (f1 === undefined && f2 === undefined) return;
    const order = f1 === undefined ? 1 : f2 === undefined ? -1 : comparePaths(f1.path, f2.path);
    if (order > 0) {
      removedDir = undefined;
      yield { kind: 'add', path: f2!.path, stat: f2!.stat };
      await b.advance(true);
    } else if (order < 0) {
      const gone = f1!;
      // Its contents need no walking: they are deleted with it.
      await a.advance(false);
      if (removedDir !== undefined && gone.path.startsWith(removedDir)) continue;
      removedDir = gone.stat.isDirectory() ? `${gone.path}/` : undefined;
      yield { kind: 'delete', path: gone.path };
    } else {
      const was = f1!;
      const now = f2!;
      const same = await sameFile(lower, upper, was, now);
      const dirBecameOther = was.stat.isDirectory() && !now.stat.isDirectory();
      removedDir = dirBecameOther ? `${was.path}/` : undefined;
      await a.advance(!dirBecameOther);
      await b.advance(true);
      if (!same) yield { kind: 'modify', path: now.path, stat: now.stat };
      else if (isLinked(now.stat)) yield { kind: 'unmodified', path: now.path, stat: now.stat };
    }
  }
}

/**
 * Path order of a walk: by code point, except that '/' sorts before every other character, so that a
 * directory's entries come right after it and before its next sibling.
 */
export function comparePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.codePointAt(i)!;
    let y = b.codePointAt(i)!;
    if (x === y) {
      if (x > 0xffff) i++;
      continue;
    }
    if (x === 0x2f) x = -1;
    if (y === 0x2f) y = -1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** A file that shares its inode with another name (directories never count). */
export function isLinked(st: BigIntStats): boolean {
  return !st.isDirectory() && st.nlink > 1n;
}

async function sameFile(lowerRoot: string, upperRoot: string, f1: WalkEntry, f2: WalkEntry): Promise<boolean> {
  const s1 = f1.stat;
  const s2 = f2.stat;
  if (s1.dev === s2.dev && s1.ino === s2.ino) return true;
  if (s1.mode !== s2.mode || s1.uid !== s2.uid || s1.gid !== s2.gid || s1.rdev !== s2.rdev) return false;
  const p1 = `${lowerRoot}/${f1.path}`;
  const p2 = `${upperRoot}/${f2.path}`;
  const [c1, c2] = await Promise.all([capability(p1), capability(p2)]);
  if ((c1 === undefined) !== (c2 === undefined) || (c1 !== undefined && !c1.equals(c2!))) return false;
  if (s1.isDirectory()) return true;
  if (s1.size !== s2.size) return false;
  const sec1 = s1.mtimeNs / 1_000_000_000n;
  const sec2 = s2.mtimeNs / 1_000_000_000n;
  if (sec1 !== sec2) return false;
  const ns1 = s1.mtimeNs % 1_000_000_000n;
  const ns2 = s2.mtimeNs % 1_000_000_000n;
  // Both whole seconds: maybe both came out of tars (which drop the fraction), so look at the data.
  if (ns1 === 0n && ns2 === 0n) {
    if (s1.isSymbolicLink()) return (await readlink(p1)) === (await readlink(p2));
    if (s1.size === 0n) return true;
    return sameContent(p1, p2);
  }
  return ns1 === ns2;
}

/** The security.capability xattr (file capabilities), or undefined. */
export async function capability(path: string): Promise<Buffer | undefined> {
  return lgetxattr(path, 'security.capability').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENODATA' || err.code === 'ENOTSUP') return undefined;
    throw err;
  });
}

const COMPARE_CHUNK = 256 * 1024;

async function sameContent(p1: string, p2: string): Promise<boolean> {
  const [h1, h2] = await Promise.all([open(p1, 'r'), open(p2, 'r')]);
  try {
    const b1 = Buffer.allocUnsafe(COMPARE_CHUNK);
    const b2 = Buffer.allocUnsafe(COMPARE_CHUNK);
    for (;;) {
      const [r1, r2] = await Promise.all([h1.read(b1, 0, COMPARE_CHUNK), h2.read(b2, 0, COMPARE_CHUNK)]);
      if (r1.bytesRead !== r2.bytesRead) return false;
      if (r1.bytesRead === 0) return true;
      if (!b1.subarray(0, r1.bytesRead).equals(b2.subarray(0, r2.bytesRead))) return false;
    }
  } finally {
    await Promise.all([h1.close(), h2.close()]);
  }
}
