import { InvalidArgumentError } from '@flotilla/errdefs';
import type { Timespec } from './tar-header.js';

/**
 * The byte layout of tar headers (V7, USTAR/PAX, GNU and star) and the encodings inside them: octal and
 * base-256 numbers, NUL-terminated strings, PAX records and PAX times. Shared by the reader and writer.
 */

export const BLOCK = 512;

/** [offset, length] of each header field. */
export const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
  // GNU headers put access and change times where USTAR has its prefix.
  gnuAtime: [345, 12],
  gnuCtime: [357, 12],
  // star: a shorter prefix, then times, and a trailer that identifies it.
  starPrefix: [345, 131],
  starAtime: [476, 12],
  starCtime: [488, 12],
  starTrailer: [508, 4],
} as const satisfies Record<string, readonly [number, number]>;

export type HeaderFormat = 'v7' | 'ustar' | 'gnu' | 'star';

/** Limit on PAX and GNU long-name data, as Go's reader has: anything bigger is not a header. */
export const MAX_SPECIAL_SIZE = 1 << 20;

export const PAX_XATTR = 'SCHILY.xattr.';

export function invalidArchive(what: string): Error {
  return new InvalidArgumentError(`invalid tar archive: ${what}`);
}

export function isZeroBlock(b: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

/** The checksum as tar defines it (the checksum field counted as spaces), unsigned and signed. */
export function checksums(b: Uint8Array): [number, number] {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i]!;
    unsigned += c;
    signed += c < 0x80 ? c : c - 0x100;
  }
  return [unsigned, signed];
}

function matches(b: Uint8Array, [off, len]: readonly [number, number], text: string): boolean {
  for (let i = 0; i < len; i++) if (b[off + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** The header's format, or undefined when the checksum is wrong (the block is not a header). */
export function formatOf(b: Uint8Array): HeaderFormat | undefined {
  const stored = parseOctal(b, F.chksum, 'checksum');
  const [u, s] = checksums(b);
  if (stored !== u && stored !== s) return undefined;
  if (matches(b, F.magic, 'ustar\0')) return matches(b, F.starTrailer, 'tar\0') ? 'star' : 'ustar';
  if (matches(b, F.magic, 'ustar ') && matches(b, F.version, ' \0')) return 'gnu';
  return 'v7';
}

/** A NUL-terminated string field (the whole field when it has no NUL). */
export function parseString(b: Buffer, [off, len]: readonly [number, number]): string {
  let end = off;
  const limit = off + len;
  while (end < limit && b[end] !== 0) end++;
  return end === off ? '' : b.toString('utf8', off, end);
}

/** An octal field, padded with NULs or spaces on either side. */
export function parseOctal(b: Uint8Array, [off, len]: readonly [number, number], field: string): number {
  let i = off;
  let end = off + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  while (end > i && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--;
  let x = 0;
  for (; i < end; i++) {
    const d = b[i]! - 0x30;
    if (d < 0 || d > 7) {
      // Anything after a NUL inside the field is ignored (Go stops there too).
      if (b[i] === 0) break;
      throw invalidArchive(`bad octal number in ${field}`);
    }
    x = x * 8 + d;
  }
  if (x > Number.MAX_SAFE_INTEGER) throw invalidArchive(`${field} out of range`);
  return x;
}

/** A numeric field: octal, or GNU base-256 (two's complement, high bit of the first byte set). */
export function parseNumeric(b: Uint8Array, field: readonly [number, number], name: string): number {
  const [off, len] = field;
  const first = b[off]!;
  if ((first & 0x80) === 0) return parseOctal(b, field, name);
  const negative = (first & 0x40) !== 0;
  let x = 0n;
  for (let i = 0; i < len; i++) {
    let c = b[off + i]!;
    if (negative) c ^= 0xff;
    if (i === 0) c &= 0x7f;
    x = (x << 8n) | BigInt(c);
  }
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidArchive(`${name} out of range`);
  return negative ? -Number(x) - 1 : Number(x);
}

/** Writes `value` as octal into the field (NUL-terminated); false when it does not fit. */
export function writeOctal(b: Buffer, [off, len]: readonly [number, number], value: number): boolean {
  if (!Number.isSafeInteger(value) || value < 0) return false;
  const digits = value.toString(8);
  if (digits.length > len - 1) return false;
  b.write(digits.padStart(len - 1, '0'), off, 'latin1');
  b[off + len - 1] = 0;
  return true;
}

/** Writes a string field; false when it does not fit or is not plain ASCII (USTAR carries only that). */
export function writeAscii(b: Buffer, [off, len]: readonly [number, number], s: string): boolean {
  if (s.length > len) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c >= 0x80) return false;
  }
  b.write(s, off, 'latin1');
  return true;
}

export function writeChecksum(b: Buffer): void {
  const [sum] = checksums(b);
  // Six octal digits, NUL, space: the traditional layout.
  b.write(sum.toString(8).padStart(6, '0'), F.chksum[0], 'latin1');
  b[F.chksum[0] + 6] = 0;
  b[F.chksum[0] + 7] = 0x20;
}

/** A PAX time: decimal seconds with an optional fraction, possibly negative. */
export function parsePaxTime(s: string, key: string): Timespec {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(s);
  if (m === null) throw invalidArchive(`bad PAX ${key} ${JSON.stringify(s)}`);
  const sec = Number(m[2]);
  if (!Number.isSafeInteger(sec)) throw invalidArchive(`PAX ${key} out of range`);
  // Nanoseconds from the first nine digits of the fraction; more precision is dropped.
  const nsec = Number((m[3] ?? '').slice(0, 9).padEnd(9, '0'));
  if (m[1] === '-') return nsec === 0 ? { sec: -sec, nsec: 0 } : { sec: -sec - 1, nsec: 1_000_000_000 - nsec };
  return { sec, nsec };
}

export function formatPaxTime(t: Timespec): string {
  if (t.nsec === 0) return String(t.sec);
  const frac = String(t.nsec).padStart(9, '0').replace(/0+$/, '');
  if (t.sec >= 0) return `${t.sec}.${frac}`;
  // -1.5s is sec -2, nsec 500000000.
  const ns = 1_000_000_000 - t.nsec;
  return `-${-(t.sec + 1)}.${String(ns).padStart(9, '0').replace(/0+$/, '')}`;
}

/** PAX records of one extended header: values as bytes, since xattr values are binary. */
export function parsePaxRecords(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    // "<length> <key>=<value>\n", where length counts the whole record.
    const space = data.indexOf(0x20, pos);
    if (space < 0 || space - pos > 20) throw invalidArchive('bad PAX record length');
    const lenText = data.toString('latin1', pos, space);
    if (!/^\d+$/.test(lenText)) throw invalidArchive('bad PAX record length');
    const len = Number(lenText);
    const end = pos + len;
    if (len < 5 || end > data.length || end <= space + 1 || data[end - 1] !== 0x0a) throw invalidArchive('bad PAX record');
    const eq = data.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end - 1) throw invalidArchive('PAX record without a key');
    const key = data.toString('utf8', space + 1, eq);
    if (key === '' || key.includes('\0')) throw invalidArchive('bad PAX record key');
    // Copied: a value must not pin the (possibly large) chunk it was read from.
    out.set(key, Buffer.from(data.subarray(eq + 1, end - 1)));
    pos = end;
  }
  return out;
}

/** One PAX record; its length prefix counts itself. */
export function paxRecord(key: string, value: Uint8Array | string): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), typeof value === 'string' ? Buffer.from(value) : value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}
