import { treeSnapshot, type TreeEntry } from '@flotilla/native/test-support';

export type { TreeEntry };

/** A filesystem tree by absolute path inside it, the root itself as '/'. */
export type Tree = Map<string, TreeEntry>;

/**
 * Walk `root` (not following symlinks) and describe every path under it and the root itself: what an
 * image's layers decide (type, permissions with setuid/setgid/sticky, owner, size, link target, xattrs,
 * content, hardlink groups), nothing the unpacking host decides (inode numbers, times).
 */
export async function readTree(root: string): Promise<Tree> {
  const snapshot = await treeSnapshot(root, { includeRoot: true });
  return new Map(Object.entries(snapshot).map(([rel, e]) => [`/${rel}`, e]));
}

/** Human-readable differences between two trees (empty when they are identical). */
export function diffTrees(a: Tree, b: Tree, names: [string, string] = ['a', 'b']): string[] {
  const out: string[] = [];
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const p of paths) {
    const x = a.get(p);
    const y = b.get(p);
    if (!x) { out.push(`${p}: only in ${names[1]}`); continue; }
    if (!y) { out.push(`${p}: only in ${names[0]}`); continue; }
    const fields = new Set([...Object.keys(x), ...Object.keys(y)]) as Set<keyof TreeEntry>;
    for (const f of fields) {
      const vx = JSON.stringify(x[f]);
      const vy = JSON.stringify(y[f]);
      if (vx !== vy) out.push(`${p}: ${f} ${names[0]}=${vx} ${names[1]}=${vy}`);
    }
  }
  return out;
}
