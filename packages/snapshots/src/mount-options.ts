import { MS } from '@flotilla/native';

/**
 * mount(2) flags the addon does not export, from <linux/mount.h> (stable kernel ABI). containerd's table
 * has them, so a mount naming them means here what it means there.
 */
const MS_SYNCHRONOUS = 16;
const MS_MANDLOCK = 64;
const MS_DIRSYNC = 128;

/** An option that sets (or, with `clear`, unsets) mount(2) flags rather than passing data to the filesystem. */
interface FlagOption {
  readonly clear: boolean;
  readonly flag: number;
}

/** containerd's parseMountOptions table (core/mount/mount_linux.go). */
const FLAG_OPTIONS: ReadonlyMap<string, FlagOption> = new Map([
  ['async', { clear: true, flag: MS_SYNCHRONOUS }],
  ['atime', { clear: true, flag: MS.MS_NOATIME }],
  ['bind', { clear: false, flag: MS.MS_BIND }],
  ['dev', { clear: true, flag: MS.MS_NODEV }],
  ['diratime', { clear: true, flag: MS.MS_NODIRATIME }],
  ['dirsync', { clear: false, flag: MS_DIRSYNC }],
  ['exec', { clear: true, flag: MS.MS_NOEXEC }],
  ['mand', { clear: false, flag: MS_MANDLOCK }],
  ['noatime', { clear: false, flag: MS.MS_NOATIME }],
  ['nodev', { clear: false, flag: MS.MS_NODEV }],
  ['nodiratime', { clear: false, flag: MS.MS_NODIRATIME }],
  ['noexec', { clear: false, flag: MS.MS_NOEXEC }],
  ['nomand', { clear: true, flag: MS_MANDLOCK }],
  ['norelatime', { clear: true, flag: MS.MS_RELATIME }],
  ['nostrictatime', { clear: true, flag: MS.MS_STRICTATIME }],
  ['nosuid', { clear: false, flag: MS.MS_NOSUID }],
  ['rbind', { clear: false, flag: MS.MS_BIND | MS.MS_REC }],
  ['relatime', { clear: false, flag: MS.MS_RELATIME }],
  ['remount', { clear: false, flag: MS.MS_REMOUNT }],
  ['ro', { clear: false, flag: MS.MS_RDONLY }],
  ['rw', { clear: true, flag: MS.MS_RDONLY }],
  ['strictatime', { clear: false, flag: MS.MS_STRICTATIME }],
  ['suid', { clear: true, flag: MS.MS_NOSUID }],
  ['sync', { clear: false, flag: MS_SYNCHRONOUS }],
]);

export interface MountOptions {
  /** mount(2) flags, in the order the options gave them (a later `rw` clears an earlier `ro`). */
  readonly flags: number;
  /** Everything else, for the filesystem, in order. */
  readonly data: readonly string[];
}

/**
 * Split fstab-style options into mount(2) flags and filesystem data, as containerd does. `defaults`
 * means no change (containerd passes it on as data, which only a bind mount would ignore).
 */
export function parseMountOptions(options: readonly string[]): MountOptions {
  let flags = 0;
  const data: string[] = [];
  for (const o of options) {
    if (o === 'defaults') continue;
    const f = FLAG_OPTIONS.get(o);
    if (f === undefined) data.push(o);
    else if (f.clear) flags &= ~f.flag;
    else flags |= f.flag;
  }
  return { flags, data };
}

/** An overlay's data options split into what the mount API takes separately. */
export interface OverlayData {
  /** Lower layers, top-most first, from `lowerdir=a:b:c`. */
  readonly lowerdirs: readonly string[];
  readonly upperdir?: string;
  readonly workdir?: string;
  /** The remaining overlay options (`index=off`, `userxattr`, ...), in order. */
  readonly options: readonly string[];
}

/**
 * Take an overlay mount's data apart. containerd writes the lower layers as one `lowerdir=` joined with
 * ':' (paths under a snapshotter root hold no ':'); each becomes its own `lowerdir+` for the kernel, so
 * no page limit applies however many there are.
 */
export function parseOverlayData(data: readonly string[]): OverlayData {
  let lowerdirs: string[] = [];
  let upperdir: string | undefined;
  let workdir: string | undefined;
  const options: string[] = [];
  for (const o of data) {
    if (o.startsWith('lowerdir=')) lowerdirs = o.slice('lowerdir='.length).split(':').filter((d) => d !== '');
    else if (o.startsWith('upperdir=')) upperdir = o.slice('upperdir='.length);
    else if (o.startsWith('workdir=')) workdir = o.slice('workdir='.length);
    else options.push(o);
  }
  return { lowerdirs, ...(upperdir !== undefined ? { upperdir } : {}), ...(workdir !== undefined ? { workdir } : {}), options };
}
