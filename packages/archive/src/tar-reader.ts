import {
  BLOCK,
  F,
  MAX_SPECIAL_SIZE,
  PAX_XATTR,
  formatOf,
  invalidArchive,
  isZeroBlock,
  parseNumeric,
  parsePaxRecords,
  parsePaxTime,
  parseString,
} from './tar-format.js';
import { isHeaderOnly, type TarEntryType, type TarHeader, type Timespec } from './tar-header.js';

/**
 * Reads a tar stream entry by entry without holding more of it than the chunk in hand: headers are parsed
 * from the chunk they arrive in (copied only when one straddles two chunks) and file data is handed out as
 * views into the input chunks, never copied.
 *
 * Usage: `next()` returns the next header (skipping whatever data of the previous entry was not read) or
 * undefined at the end of the archive; `read()` returns the current entry's data piece by piece, then
 * undefined. After the end, `drain()` consumes what follows the end-of-archive blocks, so that a digest
 * taken over the stream covers the same bytes as containerd's.
 *
 * Accepted: V7, USTAR, PAX (per-entry and global headers, `SCHILY.xattr.*`, sub-second times), GNU (long
 * names and link names, base-256 numbers, atime/ctime) and star headers; not sparse files. Errors are
 * InvalidArgument ("invalid tar archive: ...").
 */
export interface TarReader {
  next(): Promise<TarHeader | undefined>;
  read(): Promise<Buffer | undefined>;
  drain(): Promise<void>;
  /** Stops reading: tells the source it is no longer wanted (without waiting for it). */
  cancel(): void;
}

const TYPES: Readonly<Record<string, TarEntryType>> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file', // contiguous file: a regular file everywhere that matters
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'directory',
  '6': 'fifo',
  g: 'pax-global',
};

const EMPTY = Buffer.alloc(0);
// Shared by every header without PAX records (most of them); never modified.
const NO_XATTRS: ReadonlyMap<string, Uint8Array> = new Map();
const NO_PAX: ReadonlyMap<string, string> = new Map();

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

export function createTarReader(source: AsyncIterable<Uint8Array>): TarReader {
  const it = source[Symbol.asyncIterator]();
  let chunk: Buffer = EMPTY;
  let pos = 0;
  let sourceDone = false;
  /** Data bytes of the current entry not yet read, and the padding after them. */
  let remaining = 0;
  let padding = 0;
  let archiveEnded = false;

  /** Makes sure unread bytes are in hand; false at the end of the source. */
  async function fill(): Promise<boolean> {
    while (pos >= chunk.length) {
      if (sourceDone) return false;
      const r = await it.next();
      if (r.done === true) {
        sourceDone = true;
        return false;
      }
      chunk = asBuffer(r.value);
      pos = 0;
    }
    return true;
  }

  /**
   * Exactly `n` bytes: a view when they are all in the current chunk, a copy otherwise. Undefined when the
   * source ends before the first byte; an error when it ends in the middle.
   */
  async function take(n: number, what: string): Promise<Buffer | undefined> {
    if (!(await fill())) return undefined;
    if (chunk.length - pos >= n) {
      const view = chunk.subarray(pos, pos + n);
      pos += n;
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let have = 0;
    while (have < n) {
      if (!(await fill())) throw invalidArchive(`unexpected end of stream in ${what}`);
      const m = Math.min(n - have, chunk.length - pos);
      chunk.copy(out, have, pos, pos + m);
      have += m;
      pos += m;
    }
    return out;
  }

  async function skip(n: number): Promise<void> {
    while (n > 0) {
      if (!(await fill())) throw invalidArchive('unexpected end of stream in entry data');
      const m = Math.min(n, chunk.length - pos);
      pos += m;
      n -= m;
    }
  }

  /** The data of a PAX or GNU long-name entry, whole. */
  async function special(size: number, what: string): Promise<Buffer> {
    if (size > MAX_SPECIAL_SIZE) throw invalidArchive(`${what} of ${size} bytes`);
    const data = size === 0 ? EMPTY : await take(size, what);
    if (data === undefined) throw invalidArchive(`unexpected end of stream in ${what}`);
    await skip(pad(size));
    // A view would keep the whole chunk alive for as long as the header is.
    return Buffer.from(data);
  }

  async function next(): Promise<TarHeader | undefined> {
    if (archiveEnded) return undefined;
    await skip(remaining + padding);
    remaining = 0;
    padding = 0;

    let pax: Map<string, Buffer> | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const block = await take(BLOCK, 'header');
      if (block === undefined) return end(pax !== undefined || longName !== undefined || longLink !== undefined);
      if (isZeroBlock(block)) {
        // Two zero blocks end the archive; a stream may also stop after the first.
        const second = await take(BLOCK, 'end-of-archive marker');
        if (second !== undefined && !isZeroBlock(second)) throw invalidArchive('zero block followed by data');
        return end(false);
      }
      const format = formatOf(block);
      if (format === undefined) throw invalidArchive('header checksum mismatch');
      const typeflag = String.fromCharCode(block[F.typeflag[0]]!);
      const size = parseNumeric(block, F.size, 'size');
      if (size < 0) throw invalidArchive('negative size');

      if (typeflag === 'x' || typeflag === 'g') {
        const records = parsePaxRecords(await special(size, 'PAX header'));
        if (typeflag === 'g') {
          return {
            ...emptyHeader(parseString(block, F.name), 'pax-global', typeflag),
            ...splitPax(records),
          };
        }
        pax = records;
        continue;
      }
      if (typeflag === 'L' || typeflag === 'K') {
        const data = await special(size, 'GNU long name');
        const nul = data.indexOf(0);
        const text = data.toString('utf8', 0, nul < 0 ? data.length : nul);
        if (typeflag === 'L') longName = text;
        else longLink = text;
        continue;
      }
      if (typeflag === 'S') throw invalidArchive('GNU sparse files are not supported');

      let header = parseBlock(block, format, typeflag, size);
      if (pax !== undefined) header = mergePax(header, pax);
      if (longName !== undefined) header = { ...header, name: longName };
      if (longLink !== undefined) header = { ...header, linkname: longLink };
      if (header.pax.has('GNU.sparse.major') || header.pax.has('GNU.sparse.size')) {
        throw invalidArchive('PAX sparse files are not supported');
      }
      // Legacy archives mark directories with a trailing slash on a regular-file typeflag.
      if (typeflag === '\0' && header.name.endsWith('/')) header = { ...header, type: 'directory' };
      remaining = isHeaderOnly(header.type) ? 0 : header.size;
      padding = pad(remaining);
      return header;
    }
  }

  function end(midEntry: boolean): undefined {
    if (midEntry) throw invalidArchive('unexpected end of stream after an extended header');
    archiveEnded = true;
    return undefined;
  }

  async function read(): Promise<Buffer | undefined> {
    if (remaining === 0) return undefined;
    if (!(await fill())) throw invalidArchive('unexpected end of stream in entry data');
    const n = Math.min(remaining, chunk.length - pos);
    const view = chunk.subarray(pos, pos + n);
    pos += n;
    remaining -= n;
    return view;
  }

  async function drain(): Promise<void> {
    chunk = EMPTY;
    pos = 0;
    while (!sourceDone) {
      const r = await it.next();
      if (r.done === true) sourceDone = true;
    }
  }

  function cancel(): void {
    if (sourceDone) return;
    sourceDone = true;
    it.return?.(undefined)?.catch(() => {});
  }

  return { next, read, drain, cancel };
}

function pad(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function emptyHeader(name: string, type: TarEntryType, typeflag: string): TarHeader {
  return {
    name,
    type,
    typeflag,
    mode: 0,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: { sec: 0, nsec: 0 },
    linkname: '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
    xattrs: NO_XATTRS,
    pax: NO_PAX,
  };
}

function parseBlock(b: Buffer, format: string, typeflag: string, size: number): TarHeader {
  let name = parseString(b, F.name);
  let atime: Timespec | undefined;
  let ctime: Timespec | undefined;
  let uname = '';
  let gname = '';
  let devmajor = 0;
  let devminor = 0;
  if (format !== 'v7') {
    uname = parseString(b, F.uname);
    gname = parseString(b, F.gname);
    devmajor = parseNumeric(b, F.devmajor, 'devmajor');
    devminor = parseNumeric(b, F.devminor, 'devminor');
    let prefix = '';
    if (format === 'ustar') {
      prefix = parseString(b, F.prefix);
    } else if (format === 'star') {
      prefix = parseString(b, F.starPrefix);
      atime = { sec: parseNumeric(b, F.starAtime, 'atime'), nsec: 0 };
      ctime = { sec: parseNumeric(b, F.starCtime, 'ctime'), nsec: 0 };
    } else {
      if (b[F.gnuAtime[0]] !== 0) atime = { sec: parseNumeric(b, F.gnuAtime, 'atime'), nsec: 0 };
      if (b[F.gnuCtime[0]] !== 0) ctime = { sec: parseNumeric(b, F.gnuCtime, 'ctime'), nsec: 0 };
    }
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  return {
    name,
    type: TYPES[typeflag] ?? 'other',
    typeflag,
    mode: parseNumeric(b, F.mode, 'mode'),
    uid: parseNumeric(b, F.uid, 'uid'),
    gid: parseNumeric(b, F.gid, 'gid'),
    size,
    mtime: { sec: parseNumeric(b, F.mtime, 'mtime'), nsec: 0 },
    ...(atime !== undefined ? { atime } : {}),
    ...(ctime !== undefined ? { ctime } : {}),
    linkname: parseString(b, F.linkname),
    uname,
    gname,
    devmajor,
    devminor,
    xattrs: NO_XATTRS,
    pax: NO_PAX,
  };
}

/** PAX records split into xattrs (binary) and the rest (text). */
function splitPax(records: Map<string, Buffer>): { xattrs: Map<string, Uint8Array>; pax: Map<string, string> } {
  const xattrs = new Map<string, Uint8Array>();
  const pax = new Map<string, string>();
  for (const [k, v] of records) {
    if (k.startsWith(PAX_XATTR)) xattrs.set(k.slice(PAX_XATTR.length), v);
    else pax.set(k, v.toString('utf8'));
  }
  return { xattrs, pax };
}

function paxInt(v: string, key: string): number {
  if (!/^-?\d+$/.test(v)) throw invalidArchive(`bad PAX ${key} ${JSON.stringify(v)}`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw invalidArchive(`PAX ${key} out of range`);
  return n;
}

/** The header with what an extended header overrides (Go's mergePAX). */
function mergePax(h: TarHeader, records: Map<string, Buffer>): TarHeader {
  const { xattrs, pax } = splitPax(records);
  const out = { ...h, xattrs, pax } as { -readonly [K in keyof TarHeader]: TarHeader[K] };
  for (const [k, v] of pax) {
    switch (k) {
      case 'path':
        out.name = v;
        break;
      case 'linkpath':
        out.linkname = v;
        break;
      case 'uname':
        out.uname = v;
        break;
      case 'gname':
        out.gname = v;
        break;
      case 'uid':
        out.uid = paxInt(v, k);
        break;
      case 'gid':
        out.gid = paxInt(v, k);
        break;
      case 'size':
        out.size = paxInt(v, k);
        if (out.size < 0) throw invalidArchive('negative size');
        break;
      case 'mtime':
        out.mtime = parsePaxTime(v, k);
        break;
      case 'atime':
        out.atime = parsePaxTime(v, k);
        break;
      case 'ctime':
        out.ctime = parsePaxTime(v, k);
        break;
    }
  }
  return out;
}
