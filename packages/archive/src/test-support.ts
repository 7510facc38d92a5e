import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lgetxattr, llistxattr } from '@flotilla/native';
import type { TarHeaderInit } from './tar-header.js';
import { createTarWriter } from './tar-writer.js';

// Extraction and mounts need root (those suites skip themselves otherwise) and a filesystem of their own.
export { isRoot, suiteTmpfs, rejection } from '@flotilla/native/test-support';

export type TestEntry = TarHeaderInit & { readonly data?: string | Buffer };

/** A tar archive of `entries`, made by our writer. */
export async function tarOf(entries: readonly TestEntry[]): Promise<Buffer> {
  const out: Buffer[] = [];
  const tar = createTarWriter((b) => { out.push(Buffer.from(b)); });
  for (const e of entries) {
    const data = e.data === undefined ? undefined : Buffer.from(e.data);
    await tar.writeHeader({ ...e, ...(data !== undefined ? { size: data.length } : {}) });
    if (data !== undefined && data.length > 0) await tar.write(data);
  }
  await tar.end();
  return Buffer.concat(out);
}

/** `buf` as a stream of chunks of `size` bytes. */
export async function* chunks(buf: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

export interface TreeEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  target?: string;
  sha256?: string;
  rdev?: number;
  xattrs?: Record<string, string>;
  /** Paths sharing this entry's inode (hardlinks), when there are several. */
  links?: string[];
}

/**
 * Everything about a tree a layer must reproduce, by path: type, mode, owner, size, symlink target,
 * content hash, device number, xattrs (trusted.overlay.* included, so overlay whiteouts show) and
 * hardlink groups. Times are left out: the diff tests compare trees built at different moments.
 */
export async function treeSnapshot(root: string): Promise<Record<string, TreeEntry>> {
  const out: Record<string, TreeEntry> = {};
  const inodes = new Map<bigint, string[]>();
  const walk = async (dir: string) => {
    for (const name of (await readdir(join(root, dir))).sort()) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      const p = join(root, rel);
      const st = await lstat(p, { bigint: true });
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink'
        : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : st.isFIFO() ? 'fifo' : 'other';
      const e: TreeEntry = { type, mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid) };
      if (st.isFile()) {
        e.size = Number(st.size);
        e.sha256 = createHash('sha256').update(await readFile(p)).digest('hex');
        if (st.nlink > 1n) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), rel]);
      }
      if (st.isSymbolicLink()) e.target = await readlink(p);
      if (st.isCharacterDevice() || st.isBlockDevice()) e.rdev = Number(st.rdev);
      const names = await llistxattr(p);
      if (names.length > 0) {
        e.xattrs = {};
        for (const n of names.sort()) e.xattrs[n] = (await lgetxattr(p, n)).toString('hex');
      }
      out[rel] = e;
      if (st.isDirectory()) await walk(rel);
    }
  };
  await walk('');
  for (const group of inodes.values()) if (group.length > 1) for (const p of group) out[p]!.links = group;
  return out;
}
