import type { BigIntStats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';

/**
 * A depth-first walk of a directory tree in the order Go's filepath.Walk visits it (each directory before
 * its entries, entries sorted by name), which is the order containerd's diff compares two trees in and
 * writes a layer in. The caller steps through it and may skip a directory's contents.
 */
export interface TreeWalker {
  /** The entry the walk is at, or undefined once it is over. Paths are relative ("a/b"). */
  readonly current: WalkEntry | undefined;
  /** Moves on; into the current directory's entries when `descend` (and it is a directory). */
  advance(descend: boolean): Promise<void>;
}

export interface WalkEntry {
  readonly path: string;
  readonly stat: BigIntStats;
}

interface Frame {
  readonly entries: WalkEntry[];
  next: number;
}

/** Names in byte order of their UTF-8 (Go's sort.Strings); code point order is the same thing. */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

async function readFrame(root: string, dir: string): Promise<Frame> {
  const abs = dir === '' ? root : `${root}/${dir}`;
  const names = (await readdir(abs)).sort(compareNames);
  // One lstat per entry, all in flight at once: the thread pool does them in parallel.
  const stats = await Promise.all(names.map((n) => lstat(`${abs}/${n}`, { bigint: true })));
  return { entries: names.map((n, i) => ({ path: dir === '' ? n : `${dir}/${n}`, stat: stats[i]! })), next: 0 };
}

/** A walk of `root`'s contents (the root itself is not an entry). */
export async function walkTree(root: string): Promise<TreeWalker> {
  const frames: Frame[] = [await readFrame(root, '')];
  let current: WalkEntry | undefined;

  const settle = () => {
    for (;;) {
      const top = frames[frames.length - 1];
      if (top === undefined) {
        current = undefined;
        return;
      }
      if (top.next < top.entries.length) {
        current = top.entries[top.next];
        return;
      }
      frames.pop();
    }
  };
  settle();

  return {
    get current() {
      return current;
    },
    async advance(descend) {
      const at = current;
      if (at === undefined) return;
      frames[frames.length - 1]!.next++;
      if (descend && at.stat.isDirectory()) frames.push(await readFrame(root, at.path));
      settle();
    },
  };
}
