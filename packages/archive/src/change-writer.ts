import type { BigIntStats } from 'node:fs';
import { open, readlink, stat } from 'node:fs/promises';
import { FailedPreconditionError } from '@flotilla/errdefs';
import type { Change } from './changes.js';
import { capability } from './changes.js';
import { joinPath, splitPath } from './root-path.js';
import type { TarHeaderInit, Timespec } from './tar-header.js';
import type { TarWriter } from './tar-writer.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './whiteouts.js';

/**
 * Turns changes into layer entries, as containerd's archive.ChangeWriter does: additions and
 * modifications as the upper tree's entries (whole seconds, no access or change times, owner by number,
 * only the security.capability xattr), deletions as `.wh.` entries dated 1970, every changed entry's
 * parent directories before it, and hardlink groups kept together (the first name written carries the
 * data, the others link to it, including unmodified names that share the inode). Sockets are skipped.
 */
export interface ChangeWriter {
  handle(change: Change): Promise<void>;
}

export interface ChangeWriterOptions {
  /** Entries newer than this are dated this (SOURCE_DATE_EPOCH, for reproducible layers). */
  readonly sourceDateEpoch?: Timespec;
}

const READ_CHUNK = 1 << 20;
const EPOCH: Timespec = { sec: 0, nsec: 0 };

export function createChangeWriter(source: string, tar: TarWriter, opts: ChangeWriterOptions = {}): ChangeWriter {
  // Inode -> the name its data was written under; and names of unmodified links seen before any name of
  // their inode was written, which must link to it once one is.
  const linkSource = new Map<bigint, string>();
  const pendingLinks = new Map<bigint, string[]>();
  const addedDirs = new Set<string>();

  async function includeParents(name: string, isDir: boolean): Promise<void> {
    const [parent] = splitPath(name);
    if (parent !== '' && !addedDirs.has(parent)) {
      addedDirs.add(parent);
      // stat, not lstat: the parent's own entry, as containerd writes it.
      await writeEntry('modify', parent, await stat(`${source}/${parent}`, { bigint: true }));
    }
    if (isDir) addedDirs.add(name);
  }

  async function writeWhiteout(path: string): Promise<void> {
    const [dir, base] = splitPath(path);
    const name = joinPath(dir, WHITEOUT_PREFIX + base);
    await includeParents(name, false);
    await tar.writeHeader({ name, type: 'file', mtime: EPOCH });
  }

  async function writeEntry(kind: Change['kind'], path: string, st: BigIntStats): Promise<void> {
    if (st.isSocket()) return;
    const abs = `${source}/${path}`;
    const header = headerFor(path, st, opts.sourceDateEpoch);
    if (header === undefined) return;
    let h: TarHeaderInit = st.isSymbolicLink() ? { ...header, linkname: await readlink(abs) } : header;

    let extraLinks: string[] = [];
    if (!st.isDirectory() && st.nlink > 1n) {
      const first = linkSource.get(st.ino);
      if (first !== undefined) {
        h = { ...h, type: 'hardlink', linkname: first, size: 0 };
      } else {
        if (kind === 'unmodified') {
          pendingLinks.set(st.ino, [...(pendingLinks.get(st.ino) ?? []), h.name]);
          return;
        }
        linkSource.set(st.ino, h.name);
        extraLinks = pendingLinks.get(st.ino) ?? [];
        pendingLinks.delete(st.ino);
      }
    } else if (kind === 'unmodified') {
      return;
    }

    const cap = await capability(abs);
    if (cap !== undefined) h = { ...h, xattrs: new Map([['security.capability', cap]]) };
    await includeParents(h.name.replace(/\/$/, ''), st.isDirectory());
    await tar.writeHeader(h);
    if (h.type === 'file' && (h.size ?? 0) > 0) await copyFile(abs, h.size!);
    for (const extra of extraLinks) {
      await includeParents(extra, false);
      await tar.writeHeader({ ...h, name: extra, type: 'hardlink', linkname: h.name, size: 0 });
    }
  }

  /** The file's bytes; a file that changes size meanwhile makes the layer fail rather than lie. */
  async function copyFile(path: string, size: number): Promise<void> {
    const fh = await open(path, 'r');
    try {
      let done = 0;
      while (done < size) {
        const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - done));
        const { bytesRead } = await fh.read(buf, 0, buf.length, done);
        if (bytesRead === 0) break;
        done += bytesRead;
        await tar.write(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
      }
      if (done !== size) throw new FailedPreconditionError(`${path} changed size while the diff was written`);
    } finally {
      await fh.close();
    }
  }

  return {
    async handle(change) {
      if (change.kind === 'delete') {
        await writeWhiteout(change.path);
        return;
      }
      await writeEntry(change.kind, change.path, change.stat!);
      if (change.opaque === true) {
        const name = joinPath(change.path, OPAQUE_MARKER);
        await includeParents(name, false);
        await tar.writeHeader({ name, type: 'file', mtime: EPOCH });
      }
    },
  };
}

/** The header of an upper-tree entry (Go's FileInfoHeader as containerd uses it), or undefined to skip. */
function headerFor(path: string, st: BigIntStats, bound: Timespec | undefined): TarHeaderInit | undefined {
  let mtimeNs = st.mtimeNs;
  if (bound !== undefined) {
    const boundNs = BigInt(bound.sec) * 1_000_000_000n + BigInt(bound.nsec);
    if (mtimeNs > boundNs) mtimeNs = boundNs;
  }
  // Whole seconds: the fraction would need a PAX record per entry.
  const sec = Number(mtimeNs / 1_000_000_000n);
  const base = {
    name: path,
    mode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: { sec, nsec: 0 },
  };
  if (st.isFile()) return { ...base, type: 'file', size: Number(st.size) };
  if (st.isDirectory()) return { ...base, name: `${path}/`, type: 'directory' };
  if (st.isSymbolicLink()) return { ...base, type: 'symlink' };
  if (st.isFIFO()) return { ...base, type: 'fifo' };
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    const rdev = st.rdev;
    // glibc's major()/minor() encoding of dev_t.
    const major = Number(((rdev >> 32n) & 0xfffff000n) | ((rdev >> 8n) & 0xfffn));
    const minor = Number(((rdev >> 12n) & 0xffffff00n) | (rdev & 0xffn));
    return { ...base, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: major, devminor: minor };
  }
  return undefined;
}
