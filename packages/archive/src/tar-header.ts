/**
 * What one tar entry says about a file, as the reader returns it and the writer takes it. Field meanings
 * follow Go's archive/tar (which containerd uses), so an entry means the same thing on either side.
 */

/** A point in time: whole seconds since the epoch (may be negative in an archive) and nanoseconds. */
export interface Timespec {
  readonly sec: number;
  readonly nsec: number;
}

/**
 * The kinds of entry. 'pax-global' is a PAX global header, returned as an entry of its own (containerd
 * ignores them); 'other' is any typeflag without a meaning here (see `typeflag`).
 */
export type TarEntryType =
  | 'file'
  | 'hardlink'
  | 'symlink'
  | 'char'
  | 'block'
  | 'directory'
  | 'fifo'
  | 'pax-global'
  | 'other';

export interface TarHeader {
  /** The path as the archive gives it (after PAX `path` or a GNU long name); not cleaned. */
  readonly name: string;
  readonly type: TarEntryType;
  /** The raw typeflag character ('0', '5', 'x', ...). */
  readonly typeflag: string;
  /** The mode field as stored: permission bits with setuid/setgid/sticky, sometimes file type bits too. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Bytes of data that follow the header (always 0 for links, devices, directories and FIFOs). */
  readonly size: number;
  readonly mtime: Timespec;
  /** Access and change times, when the archive records them (PAX, GNU or star headers). */
  readonly atime?: Timespec;
  readonly ctime?: Timespec;
  /** Hardlink or symlink target. */
  readonly linkname: string;
  readonly uname: string;
  readonly gname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** Extended attributes from `SCHILY.xattr.<name>` PAX records, values as raw bytes. */
  readonly xattrs: ReadonlyMap<string, Uint8Array>;
  /** Every other PAX record of the entry, by key. */
  readonly pax: ReadonlyMap<string, string>;
}

/** What a writer needs; everything else has the obvious default (0, '', no xattrs). */
export interface TarHeaderInit {
  readonly name: string;
  readonly type: Exclude<TarEntryType, 'pax-global' | 'other'>;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly size?: number;
  readonly mtime?: Timespec;
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  readonly xattrs?: ReadonlyMap<string, Uint8Array>;
}

/** Typeflag bytes and the kinds they mean. */
export const TYPEFLAGS: Readonly<Record<Exclude<TarEntryType, 'other'>, string>> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  directory: '5',
  fifo: '6',
  'pax-global': 'g',
};

/** Kinds whose header is all there is: a size field on them is not followed by data. */
export function isHeaderOnly(type: TarEntryType): boolean {
  return type === 'hardlink' || type === 'symlink' || type === 'char' || type === 'block' ||
    type === 'directory' || type === 'fifo';
}

export const ZERO_TIME: Timespec = { sec: 0, nsec: 0 };
