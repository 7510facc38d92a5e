import { createHash } from 'node:crypto';
import { open, readdir } from 'node:fs/promises';
import { CanceledError, InvalidArgumentError } from '@flotilla/errdefs';
import {
  lgetxattr,
  llistxattr,
  makedev,
  S_IFBLK,
  S_IFCHR,
  S_IFIFO,
  type ExtractOp,
  type XattrPair,
} from '@flotilla/native';
import { decompress, type Compression } from './compression.js';
import { createExtractQueue, type ExtractQueueOptions } from './extract-queue.js';
import { entryPath, joinPath, lstatIfExists, resolveInRoot, splitPath } from './root-path.js';
import type { TarHeader, Timespec } from './tar-header.js';
import { createTarReader } from './tar-reader.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './whiteouts.js';

export interface ApplyOptions {
  /**
   * How whiteouts are applied. 'plain' (the default) deletes what they name from the target directory,
   * which holds the whole tree (a mounted snapshot). 'overlay' writes them as overlayfs does into an upper
   * directory: a 0/0 character device per deleted name, `trusted.overlay.opaque=y` on opaque directories.
   */
  readonly whiteouts?: 'plain' | 'overlay';
  /**
   * The overlay's lower directories, top-most first: a directory the layer needs but does not list is
   * created with the owner, mode, times and xattrs it has in the first of them that holds it (so the
   * upper dir does not hide them), as containerd does.
   */
  readonly parents?: readonly string[];
  /** Create character and block devices (the default, as containerd); false refuses a layer with one. */
  readonly allowDevices?: boolean;
  /** Leave every entry owned by the extracting user instead of the archive's uid/gid. */
  readonly noSameOwner?: boolean;
  /** 'detect' (default): decompress gzip or zstd by magic number; 'none': the input is the tar itself. */
  readonly compression?: 'detect' | 'none';
  readonly signal?: AbortSignal;
  /** Batch sizes for the native extractor (tuning and tests). */
  readonly batch?: ExtractQueueOptions;
}

export interface ApplyResult {
  /** sha256 of the uncompressed stream, the layer's diff ID when it is intact. */
  readonly digest: string;
  /** Bytes of the uncompressed stream. */
  readonly size: number;
  readonly compression: Compression;
}

interface EntryMeta {
  uid?: number;
  gid?: number;
  xattrs?: XattrPair[];
  atime: Timespec;
  mtime: Timespec;
}

/** Files are handed to the extractor in pieces of at most this much data. */
const FILE_PIECE = 1 << 20;

/** The latest time utimensat takes with 64-bit nanoseconds (Go's bound, which containerd applies). */
const MAX_SEC = 9_223_372_036;
const MAX_NSEC = 854_775_807;
const EPOCH: Timespec = { sec: 0, nsec: 0 };

const MAX_ID = 0xfffffffe;

/**
 * Extract an OCI layer (a tar, possibly gzip- or zstd-compressed) into `root`, as containerd's
 * archive.Apply does, and return the digest and size of the uncompressed tar so the caller can check the
 * diff ID. Nothing is created or changed outside `root`: entry names that are absolute or climb out with
 * '..', parents and hardlink targets whose symlinks lead out, and (unless allowed) device nodes are
 * refused with InvalidArgument; the native extractor additionally has the kernel refuse any parent
 * directory outside `root` or through a symlink.
 *
 * Parent directories are resolved on the main thread, following the image's symlinks (an absolute one
 * from `root`), and remembered: most entries are in a directory an earlier entry created, and need no
 * system call to place. The work itself runs in native batches (extract-queue.ts).
 */
export async function applyLayer(source: AsyncIterable<Uint8Array>, root: string, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const overlay = opts.whiteouts === 'overlay';
  const allowDevices = opts.allowDevices ?? true;
  const parents = opts.parents ?? [];
  const hash = createHash('sha256');
  let size = 0;
  let compression: Compression = 'none';

  const input = opts.compression === 'none'
    ? source
    : decompress(source, { onDetect: (c) => { compression = c; } });
  const tar = createTarReader((async function* tap() {
    for await (const chunk of input) {
      hash.update(chunk);
      size += chunk.length;
      yield chunk;
    }
  })());
  const queue = createExtractQueue(root, opts.batch);
  const dirs = createDirCache();
  // Plain mode: what this layer wrote, which an opaque marker must keep; and the directories already
  // made opaque.
  const unpacked = new Set<string>();
  const opaqued = new Set<string>();
  const dirTimes: ExtractOp[] = [];
  const dirTimeLabels: string[] = [];

  const push = async (op: ExtractOp, label: string, bytes = 0) => {
    const wait = queue.push(op, label, bytes);
    if (wait !== undefined) await wait;
  };

  /**
   * The host directory (relative to root) for the layer's directory `rel`, creating it if asked; `what`
   * names the entry in refusals.
   */
  async function parentDir(rel: string, create: boolean, what: string): Promise<string> {
    if (rel === '') return '';
    const known = dirs.get(rel);
    if (known !== undefined) return known;
    // Looking at the filesystem needs it to be up to date. The lookups themselves are synchronous, as in
    // resolveInRoot: cached dentries, cheaper than a thread-pool round trip each.
    await queue.flush();
    const host = resolveInRoot(root, rel, { onEscape: 'refuse', what: `${what}: directory ${JSON.stringify(rel)}` });
    if (host === '') return '';
    const parts = host.split('/');
    let i = 0;
    for (; i < parts.length; i++) {
      const p = parts.slice(0, i + 1).join('/');
      const st = lstatIfExists(`${root}/${p}`);
      if (st === undefined) break;
      if (!st.isDirectory()) throw new InvalidArgumentError(`${what}: ${JSON.stringify(p)} is not a directory`);
    }
    if (i < parts.length) {
      if (!create) return host;
      for (; i < parts.length; i++) await push(await missingParent(parts.slice(0, i + 1).join('/')), rel);
    }
    dirs.set(rel, host);
    return host;
  }

  /** containerd's mkparent: 0755, or what the directory is in the first lower layer holding it. */
  async function missingParent(host: string): Promise<ExtractOp> {
    const [dir, name] = splitPath(host);
    for (const lower of parents) {
      const path = `${lower}/${resolveInRoot(lower, host, { onEscape: 'clamp' })}`;
      const st = lstatIfExists(path, true);
      if (st === undefined) continue;
      if (!st.isDirectory()) break;
      return {
        op: 'dir',
        dir,
        name,
        mode: Number(st.mode) & 0o7777,
        uid: Number(st.uid),
        gid: Number(st.gid),
        xattrs: await copyableXattrs(path),
        atime: fromNs(st.atimeNs),
        mtime: fromNs(st.mtimeNs),
      };
    }
    return { op: 'dir', dir, name, mode: 0o755 };
  }

  /**
   * Overlay mode: a hard link's target that is not in the upper directory but in a lower layer is copied
   * up first (contents, mode, owner, xattrs, times), as overlayfs does when a link is made on the mounted
   * snapshot (what containerd's differ writes through): a hard link cannot cross layers. Returns the host
   * directory the target is in. A target found nowhere is left for the link to fail on.
   */
  async function copyUp(target: string, targetParent: string, targetName: string, targetDir: string, what: string): Promise<string> {
    await queue.flush();
    if (lstatIfExists(`${root}/${joinPath(targetDir, targetName)}`) !== undefined) return targetDir;
    for (const lower of parents) {
      const path = `${lower}/${resolveInRoot(lower, target, { onEscape: 'clamp' })}`;
      const st = lstatIfExists(path, true);
      if (st === undefined) continue;
      if (!st.isFile()) return targetDir;
      const dir = await parentDir(targetParent, true, what);
      const size = Number(st.size);
      const head = {
        op: 'file' as const,
        dir,
        name: targetName,
        mode: Number(st.mode) & 0o7777,
        size,
        uid: Number(st.uid),
        gid: Number(st.gid),
        xattrs: await copyableXattrs(path),
        atime: fromNs(st.atimeNs),
        mtime: fromNs(st.mtimeNs),
      };
      // The file op with the first piece (empty for an empty file), then the rest a piece at a time: a
      // committed layer's file does not change under us.
      const fh = await open(path, 'r');
      try {
        let at = 0;
        do {
          const buf = Buffer.allocUnsafe(Math.min(FILE_PIECE, size - at));
          const { bytesRead } = buf.length > 0 ? await fh.read(buf, 0, buf.length, at) : { bytesRead: 0 };
          const data = [buf.subarray(0, bytesRead)];
          await push(at === 0 ? { ...head, data } : { op: 'data', data }, `${what}: copy-up`, bytesRead);
          if (bytesRead === 0) break;
          at += bytesRead;
        } while (at < size);
      } finally {
        await fh.close();
      }
      await queue.flush();
      return dir;
    }
    return targetDir;
  }

  /** Plain mode: an opaque directory keeps only what this layer put in it (so far, as containerd does). */
  async function clearOpaque(dir: string): Promise<void> {
    if (opaqued.has(dir)) return;
    opaqued.add(dir);
    await queue.flush();
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d === '' ? root : `${root}/${d}`, { withFileTypes: true })) {
        const p = joinPath(d, e.name);
        if (!unpacked.has(p)) {
          dirs.invalidate(p, p);
          await push({ op: 'remove', dir: d, name: e.name }, p);
        } else if (e.isDirectory()) {
          await walk(p);
        }
      }
    };
    await walk(dir);
  }

  /** Owner, xattrs and times of an entry, as the extractor takes them. */
  function meta(h: TarHeader): EntryMeta {
    const mtime = bound(h.mtime);
    const atime = bound(h.atime !== undefined && before(h.mtime, h.atime) ? h.atime : h.mtime);
    const m: EntryMeta = { atime, mtime };
    if (opts.noSameOwner !== true) {
      if (h.uid < 0 || h.uid > MAX_ID || h.gid < 0 || h.gid > MAX_ID) {
        throw new InvalidArgumentError(`layer entry ${JSON.stringify(h.name)}: owner ${h.uid}:${h.gid} out of range`);
      }
      m.uid = h.uid;
      m.gid = h.gid;
    }
    if (h.xattrs.size > 0) {
      // trusted.* is overlayfs's own namespace (and the admin's): a layer setting it could redirect
      // lookups of the mounted snapshot. containerd refuses it too.
      const xattrs = [...h.xattrs].filter(([k]) => !k.startsWith('trusted.'));
      if (xattrs.length > 0) m.xattrs = xattrs;
    }
    return m;
  }

  async function applyEntry(h: TarHeader): Promise<void> {
    if (h.type === 'pax-global') return;
    if (h.type === 'other') throw new InvalidArgumentError(`layer entry ${JSON.stringify(h.name)}: unsupported type ${JSON.stringify(h.typeflag)}`);
    const rel = entryPath(h.name);
    // The root itself ("./"): containerd leaves the target's own metadata alone.
    if (rel === '') return;
    const [parentRel, base] = splitPath(rel);
    const dir = await parentDir(parentRel, true, `layer entry ${JSON.stringify(h.name)}`);
    const path = joinPath(dir, base);

    if (base === OPAQUE_MARKER) {
      if (overlay) await push({ op: 'opaque', dir }, h.name);
      else await clearOpaque(dir);
      return;
    }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      const name = base.slice(WHITEOUT_PREFIX.length);
      if (name === '' || name === '.' || name === '..') throw new InvalidArgumentError(`layer entry ${JSON.stringify(h.name)}: invalid whiteout`);
      const target = joinPath(dir, name);
      dirs.invalidate(joinPath(parentRel, name), target);
      if (overlay) {
        const m = meta(h);
        await push({ op: 'whiteout', dir, name, ...(m.uid !== undefined ? { uid: m.uid, gid: m.gid } : {}) }, h.name);
      } else {
        await push({ op: 'remove', dir, name }, h.name);
      }
      return;
    }

    if (h.type === 'directory') {
      if (!dirs.isDir(path)) dirs.invalidate(rel, path);
      dirs.set(rel, path);
      const m = meta(h);
      await push({ op: 'dir', dir, name: base, mode: h.mode & 0o7777, ...m }, h.name);
      // Directory times go last: creating entries inside changes them.
      dirTimes.push({ op: 'times', dir, name: base, atime: m.atime, mtime: m.mtime });
      dirTimeLabels.push(h.name);
    } else {
      dirs.invalidate(rel, path);
      await applyNonDir(h, dir, base);
    }
    unpacked.add(path);
  }

  async function applyNonDir(h: TarHeader, dir: string, name: string): Promise<void> {
    switch (h.type) {
      case 'file': {
        const head = { op: 'file' as const, dir, name, mode: h.mode & 0o7777, size: h.size, ...meta(h) };
        let parts: Buffer[] = [];
        let bytes = 0;
        let started = false;
        for (;;) {
          const piece = await tar.read();
          if (piece !== undefined) {
            parts.push(piece);
            bytes += piece.length;
            if (bytes < FILE_PIECE) continue;
          }
          if (!started || bytes > 0) {
            await push(started ? { op: 'data', data: parts } : { ...head, data: parts }, h.name, bytes);
            started = true;
            parts = [];
            bytes = 0;
          }
          if (piece === undefined) return;
        }
      }
      case 'symlink':
        await push({ op: 'symlink', dir, name, target: h.linkname, ...meta(h) }, h.name);
        return;
      case 'hardlink': {
        const what = `layer entry ${JSON.stringify(h.name)}: hardlink target ${JSON.stringify(h.linkname)}`;
        const target = entryPath(h.linkname, what);
        if (target === '') throw new InvalidArgumentError(`${what}: the root`);
        const [targetParent, targetName] = splitPath(target);
        let targetDir = await parentDir(targetParent, false, what);
        if (overlay && parents.length > 0) targetDir = await copyUp(target, targetParent, targetName, targetDir, what);
        await push({ op: 'link', dir, name, targetDir, targetName, mode: h.mode & 0o7777, ...meta(h) }, h.name);
        return;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        if (h.type !== 'fifo' && !allowDevices) {
          throw new InvalidArgumentError(`layer entry ${JSON.stringify(h.name)}: device nodes are not allowed here`);
        }
        if (h.devmajor < 0 || h.devmajor > 0xffffffff || h.devminor < 0 || h.devminor > 0xffffffff) {
          throw new InvalidArgumentError(`layer entry ${JSON.stringify(h.name)}: device number ${h.devmajor}:${h.devminor} out of range`);
        }
        const type = h.type === 'char' ? S_IFCHR : h.type === 'block' ? S_IFBLK : S_IFIFO;
        const rdev = h.type === 'fifo' ? 0 : makedev(h.devmajor, h.devminor);
        await push({ op: 'node', dir, name, mode: type | (h.mode & 0o7777), rdev, ...meta(h) }, h.name);
        return;
      }
    }
  }

  let finished = false;
  try {
    for (;;) {
      if (opts.signal?.aborted === true) throw new CanceledError('layer extraction canceled', { cause: opts.signal.reason });
      const h = await tar.next();
      if (h === undefined) break;
      await applyEntry(h);
    }
    await tar.drain();
    for (let i = 0; i < dirTimes.length; i++) await push(dirTimes[i]!, dirTimeLabels[i]!);
    await queue.flush();
    finished = true;
  } finally {
    if (!finished) tar.cancel();
    await queue.close();
  }
  return { digest: `sha256:${hash.digest('hex')}`, size, compression };
}

/**
 * Which of the layer's directories are where on the host. Entries are placed without system calls when
 * their parent is known; whatever replaces or removes a known directory (or a path one was reached
 * through) forgets them all, which is rare enough not to matter.
 */
interface DirCache {
  get(rel: string): string | undefined;
  set(rel: string, host: string): void;
  /** Whether `host` is known to be a real directory. */
  isDir(host: string): boolean;
  /** Something at layer path `rel` (host path `host`) is about to be replaced or removed. */
  invalidate(rel: string, host: string): void;
}

function createDirCache(): DirCache {
  const byRel = new Map<string, string>();
  // Every layer path and host path a known directory was reached through (with their ancestors).
  const relPrefixes = new Set<string>();
  const hostPrefixes = new Set<string>();
  const addPrefixes = (set: Set<string>, p: string) => {
    for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) set.add(p.slice(0, i));
    set.add(p);
  };
  return {
    get: (rel) => byRel.get(rel),
    set(rel, host) {
      byRel.set(rel, host);
      addPrefixes(relPrefixes, rel);
      if (host !== '') addPrefixes(hostPrefixes, host);
    },
    isDir: (host) => hostPrefixes.has(host),
    invalidate(rel, host) {
      if (!relPrefixes.has(rel) && !hostPrefixes.has(host)) return;
      byRel.clear();
      relPrefixes.clear();
      hostPrefixes.clear();
    },
  };
}


/** A directory's xattrs minus trusted.* (overlay's own), as containerd copies them up. */
async function copyableXattrs(path: string): Promise<XattrPair[]> {
  const names = await llistxattr(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOTSUP') return [] as string[];
    throw err;
  });
  const out: XattrPair[] = [];
  for (const name of names) {
    if (name.startsWith('trusted.')) continue;
    const value = await lgetxattr(path, name).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENODATA' || err.code === 'ENOTSUP') return undefined;
      throw err;
    });
    if (value !== undefined) out.push([name, value]);
  }
  return out;
}

function fromNs(ns: bigint): Timespec {
  return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) };
}

function before(a: Timespec, b: Timespec): boolean {
  return a.sec < b.sec || (a.sec === b.sec && a.nsec < b.nsec);
}

/** Times before the epoch or past 2262 become the epoch (containerd's boundTime). */
function bound(t: Timespec): Timespec {
  if (t.sec < 0 || t.sec > MAX_SEC || (t.sec === MAX_SEC && t.nsec > MAX_NSEC)) return EPOCH;
  return t;
}
