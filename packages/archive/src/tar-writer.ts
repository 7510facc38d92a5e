import { InvalidArgumentError } from '@flotilla/errdefs';
import { BLOCK, F, PAX_XATTR, formatPaxTime, paxRecord, writeAscii, writeChecksum, writeOctal } from './tar-format.js';
import { TYPEFLAGS, isHeaderOnly, type TarHeaderInit } from './tar-header.js';

/**
 * Writes a tar stream: USTAR headers, with a PAX extended header before any entry that USTAR cannot
 * describe (a long or non-ASCII path or link target, large ids or sizes, sub-second times, xattrs), which
 * is what Go's writer does for containerd's layers. Output goes to `sink` in chunks; small headers and
 * data are gathered into one buffer first, and `sink`'s promise is awaited, so a slow consumer slows the
 * writer down rather than letting output pile up.
 */
export interface TarWriter {
  /** Starts an entry; a 'file' with a non-zero size must then get exactly that many bytes of write(). */
  writeHeader(h: TarHeaderInit): Promise<void>;
  write(data: Uint8Array): Promise<void>;
  /** Ends the archive with two zero blocks and hands over what is buffered. */
  end(): Promise<void>;
}

export type TarSink = (chunk: Buffer) => Promise<void> | void;

/** Gathered output is handed over once it reaches this size; bigger data goes through as it is. */
const GATHER = 256 * 1024;

const MAX_OCTAL_8 = 0o7777777;
const MAX_OCTAL_12 = 0o77777777777;

export function createTarWriter(sink: TarSink): TarWriter {
  let gathered: Buffer[] = [];
  let gatheredBytes = 0;
  let remaining = 0;
  let padding = 0;
  let ended = false;

  async function flush(): Promise<void> {
    if (gatheredBytes === 0) return;
    const out = gathered.length === 1 ? gathered[0]! : Buffer.concat(gathered, gatheredBytes);
    gathered = [];
    gatheredBytes = 0;
    await sink(out);
  }

  async function emit(b: Buffer): Promise<void> {
    if (b.length >= GATHER) {
      await flush();
      await sink(b);
      return;
    }
    gathered.push(b);
    gatheredBytes += b.length;
    if (gatheredBytes >= GATHER) await flush();
  }

  return {
    async writeHeader(h) {
      if (ended) throw new InvalidArgumentError('tar writer: entry after end');
      if (remaining > 0) throw new InvalidArgumentError(`tar writer: ${remaining} bytes of the previous entry missing`);
      if (padding > 0) await emit(Buffer.alloc(padding));
      padding = 0;
      const [pax, block] = encodeHeader(h);
      if (pax !== undefined) await emit(pax);
      await emit(block);
      remaining = isHeaderOnly(h.type) ? 0 : (h.size ?? 0);
      padding = (BLOCK - (remaining % BLOCK)) % BLOCK;
    },

    async write(data) {
      if (data.length > remaining) throw new InvalidArgumentError(`tar writer: ${data.length - remaining} bytes more than the entry's size`);
      remaining -= data.length;
      await emit(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    },

    async end() {
      if (remaining > 0) throw new InvalidArgumentError(`tar writer: ${remaining} bytes of the last entry missing`);
      if (ended) return;
      ended = true;
      await emit(Buffer.alloc(padding + 2 * BLOCK));
      padding = 0;
      await flush();
    },
  };
}

/** USTAR can hold `name` as prefix + '/' + name: [prefix, name], or undefined. */
function splitUstarPath(path: string): [string, string] | undefined {
  if (!writable(path)) return undefined;
  // The split point is a '/' that leaves at most 155 bytes before and 100 after it.
  for (let i = Math.min(path.length - 1, 155); i > 0; i--) {
    if (path[i] === '/' && path.length - i - 1 <= 100 && path.length - i - 1 > 0) return [path.slice(0, i), path.slice(i + 1)];
  }
  return undefined;
}

function writable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c >= 0x80) return false;
  }
  return true;
}

/** The extended header (when needed) and the USTAR header block of an entry. */
function encodeHeader(h: TarHeaderInit): [Buffer | undefined, Buffer] {
  const b = Buffer.alloc(BLOCK);
  const records: Buffer[] = [];
  const size = isHeaderOnly(h.type) ? 0 : (h.size ?? 0);
  const mtime = h.mtime ?? { sec: 0, nsec: 0 };

  if (!writeAscii(b, F.name, h.name)) {
    const split = splitUstarPath(h.name);
    if (split !== undefined) {
      writeAscii(b, F.prefix, split[0]);
      writeAscii(b, F.name, split[1]);
    } else {
      records.push(paxRecord('path', h.name));
      writeAscii(b, F.name, bestEffort(h.name, 100));
    }
  }
  const linkname = h.linkname ?? '';
  if (!writeAscii(b, F.linkname, linkname)) {
    records.push(paxRecord('linkpath', linkname));
    writeAscii(b, F.linkname, bestEffort(linkname, 100));
  }
  const mode = h.mode ?? 0;
  if (!writeOctal(b, F.mode, mode)) throw new InvalidArgumentError(`tar writer: mode ${mode} of ${h.name} out of range`);
  for (const [key, field, value] of [['uid', F.uid, h.uid ?? 0], ['gid', F.gid, h.gid ?? 0]] as const) {
    if (value > MAX_OCTAL_8 || !writeOctal(b, field, value)) {
      if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(`tar writer: ${key} ${value} of ${h.name} out of range`);
      records.push(paxRecord(key, String(value)));
      writeOctal(b, field, 0);
    }
  }
  if (size > MAX_OCTAL_12 || !writeOctal(b, F.size, size)) {
    if (!Number.isSafeInteger(size) || size < 0) throw new InvalidArgumentError(`tar writer: size ${size} of ${h.name} out of range`);
    records.push(paxRecord('size', String(size)));
    writeOctal(b, F.size, 0);
  }
  if (mtime.nsec !== 0 || mtime.sec < 0 || mtime.sec > MAX_OCTAL_12) {
    records.push(paxRecord('mtime', formatPaxTime(mtime)));
  }
  writeOctal(b, F.mtime, Math.min(Math.max(mtime.sec, 0), MAX_OCTAL_12));
  b.write(TYPEFLAGS[h.type], F.typeflag[0], 'latin1');
  b.write('ustar\0', F.magic[0], 'latin1');
  b.write('00', F.version[0], 'latin1');
  if (h.type === 'char' || h.type === 'block') {
    for (const [key, field, value] of [['devmajor', F.devmajor, h.devmajor ?? 0], ['devminor', F.devminor, h.devminor ?? 0]] as const) {
      if (!writeOctal(b, field, value)) throw new InvalidArgumentError(`tar writer: ${key} ${value} of ${h.name} out of range`);
    }
  }
  // Sorted, as Go writes them: the same entry always makes the same bytes.
  for (const [name, value] of [...(h.xattrs ?? new Map<string, Uint8Array>())].sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0))) {
    records.push(paxRecord(PAX_XATTR + name, value));
  }
  writeChecksum(b);
  if (records.length === 0) return [undefined, b];

  const data = Buffer.concat(records);
  const ext = Buffer.alloc(BLOCK);
  const slash = h.name.replace(/\/+$/, '').lastIndexOf('/');
  const base = h.name.replace(/\/+$/, '').slice(slash + 1);
  const dir = slash >= 0 ? h.name.slice(0, slash + 1) : '';
  writeAscii(ext, F.name, bestEffort(`${dir}PaxHeaders.0/${base}`, 100));
  writeOctal(ext, F.mode, 0);
  writeOctal(ext, F.uid, 0);
  writeOctal(ext, F.gid, 0);
  writeOctal(ext, F.size, data.length);
  writeOctal(ext, F.mtime, 0);
  ext.write('x', F.typeflag[0], 'latin1');
  ext.write('ustar\0', F.magic[0], 'latin1');
  ext.write('00', F.version[0], 'latin1');
  writeChecksum(ext);
  const padding = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return [Buffer.concat([ext, data, Buffer.alloc(padding)]), b];
}

/** A printable ASCII stand-in for a field whose real value is in the PAX header. */
function bestEffort(s: string, len: number): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[^\x20-\x7e]/g, '_').slice(0, len);
}
