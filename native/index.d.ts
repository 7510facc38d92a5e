/**
 * Error a failed syscall rejects with, shaped like Node's fs errors:
 * `EPERM: operation not permitted, mount 'overlay' -> '/x'`.
 */
export interface NativeError extends Error {
  /** Negated errno, as in Node (-1 for EPERM). */
  errno: number;
  /** Symbolic errno name ('EPERM'). */
  code: string;
  /**
   * The syscall that failed ('mount', 'umount2', 'lgetxattr', 'mknod', ...;
   * for {@link mountOverlay} the failing step: 'fsopen', 'fsconfig',
   * 'fsmount' or 'move_mount').
   */
  syscall: string;
  /** The path the call acted on (the file, or the mount target). */
  path?: string;
}

/**
 * mount(2), run off the main thread. `source`, `fstype` and `data` may be
 * null or undefined (passed as NULL); `flags` is an OR of {@link MS} values
 * and defaults to 0. Rejects with a {@link NativeError} (syscall 'mount',
 * path = target), or a TypeError for bad arguments.
 */
export function mount(
  source: string | null | undefined,
  target: string,
  fstype?: string | null,
  flags?: number,
  data?: string | null,
): Promise<void>;

/**
 * umount2(2), run off the main thread. `flags` is an OR of {@link MNT}
 * values and defaults to 0. Rejects with a {@link NativeError}
 * (syscall 'umount2', path = target).
 */
export function umount2(target: string, flags?: number): Promise<void>;

/** mount(2) flags, from <sys/mount.h> at build time. */
export declare const MS: Readonly<{
  MS_RDONLY: number;
  MS_NOSUID: number;
  MS_NODEV: number;
  MS_NOEXEC: number;
  MS_REMOUNT: number;
  MS_BIND: number;
  MS_REC: number;
  MS_PRIVATE: number;
  MS_SLAVE: number;
  MS_SHARED: number;
  MS_UNBINDABLE: number;
  MS_NOATIME: number;
  MS_NODIRATIME: number;
  MS_RELATIME: number;
  MS_STRICTATIME: number;
}>;

/** umount2(2) flags, from <sys/mount.h> at build time. */
export declare const MNT: Readonly<{
  MNT_FORCE: number;
  MNT_DETACH: number;
  MNT_EXPIRE: number;
  UMOUNT_NOFOLLOW: number;
}>;

/** lsetxattr(2) flags, from <sys/xattr.h> at build time. */
export declare const XATTR: Readonly<{
  /** Fail with EEXIST if the attribute already exists. */
  XATTR_CREATE: number;
  /** Fail with ENODATA if the attribute does not exist. */
  XATTR_REPLACE: number;
}>;

/**
 * lsetxattr(2), run off the main thread: sets extended attribute `name`
 * (with its namespace, e.g. 'trusted.overlay.opaque' or 'user.foo') on
 * `path` itself, not on a symlink's target. `value` is copied before the
 * call. `flags` is 0 (default), {@link XATTR}.XATTR_CREATE or
 * XATTR_REPLACE. Rejects with a {@link NativeError} (syscall 'lsetxattr',
 * path = path).
 */
export function lsetxattr(
  path: string,
  name: string,
  value: Buffer | Uint8Array,
  flags?: number,
): Promise<void>;

/**
 * lgetxattr(2), run off the main thread: the value of attribute `name` of
 * `path` itself (symlinks not followed). Sized by asking the kernel first,
 * retried if the value grows in between. A missing attribute rejects with
 * code 'ENODATA' (syscall 'lgetxattr', path = path).
 */
export function lgetxattr(path: string, name: string): Promise<Buffer>;

/**
 * llistxattr(2), run off the main thread: the names of the attributes of
 * `path` itself (symlinks not followed), with their namespace prefixes, in
 * the kernel's order. Only the names the caller may see are listed (trusted.*
 * needs CAP_SYS_ADMIN). Rejects with a {@link NativeError} (syscall
 * 'llistxattr').
 */
export function llistxattr(path: string): Promise<string[]>;

/**
 * lremovexattr(2), run off the main thread. A missing attribute rejects with
 * code 'ENODATA' (syscall 'lremovexattr', path = path).
 */
export function lremovexattr(path: string, name: string): Promise<void>;

/** S_IFCHR from <sys/stat.h>: character-device file type bits for mknod. */
export declare const S_IFCHR: number;
/** S_IFBLK from <sys/stat.h>: block-device file type bits for mknod. */
export declare const S_IFBLK: number;
/** S_IFIFO from <sys/stat.h>: FIFO file type bits for mknod. */
export declare const S_IFIFO: number;

/**
 * mknod(2), run off the main thread. `mode` is a file type
 * ({@link S_IFCHR}, {@link S_IFBLK}, {@link S_IFIFO}) ORed with permission
 * bits (the umask applies); `dev` is a device number from {@link makedev}
 * (ignored for FIFOs). An overlay whiteout is
 * `mknod(path, S_IFCHR, makedev(0, 0))`. Rejects with a {@link NativeError}
 * (syscall 'mknod', path = path), or a TypeError for bad arguments.
 */
export function mknod(path: string, mode: number, dev: number): Promise<void>;

/**
 * makedev(3), computed by the C library: the dev_t for `major`/`minor`
 * (each a 32-bit unsigned integer), as `fs.Stats#rdev` reports it. Throws a
 * RangeError (code 'ERR_OUT_OF_RANGE') if the result exceeds
 * Number.MAX_SAFE_INTEGER, which no device number Linux can represent does.
 */
export function makedev(major: number, minor: number): number;

/** Layers and options for {@link mountOverlay}. */
export interface OverlayMountOptions {
  /**
   * Lower layers, top-most first (overlayfs order; containerd lists the
   * parent snapshot first). At least one. Each is passed to the kernel as its
   * own `lowerdir+` value, so any number of layers works; each path must be
   * shorter than 256 bytes (fsconfig's cap on one value). Without
   * {@link upperdir}, overlayfs needs at least two (else EINVAL at
   * FSCONFIG_CMD_CREATE).
   */
  lowerdirs: readonly string[];
  /** Writable upper layer; needs {@link workdir} on the same filesystem. */
  upperdir?: string;
  /** Overlay work directory; given together with {@link upperdir}. */
  workdir?: string;
  /**
   * Further overlay options, one per fsconfig call: 'key=value' (set as a
   * string, e.g. 'index=off', 'redirect_dir=on') or a bare 'key' (set as a
   * flag, e.g. 'userxattr', 'volatile').
   */
  options?: readonly string[];
  /** Mount read-only (MOUNT_ATTR_RDONLY). Default false. */
  readonly?: boolean;
}

/**
 * Mounts an overlay on `target` through the new mount API, off the main
 * thread: fsopen('overlay'), one fsconfig per option and per lower layer
 * ('lowerdir+'; on kernels before 6.8, which refuse that key, a single
 * ':'-joined 'lowerdir'), FSCONFIG_CMD_CREATE, fsmount, then move_mount
 * onto `target`. Unmount with {@link umount2}.
 *
 * Rejects with a {@link NativeError} whose `syscall` is the failing step
 * ('fsopen', 'fsconfig', 'fsmount', 'move_mount') and whose `path` is
 * `target`; an fsconfig failure names the key (and value) in the message,
 * followed by what overlayfs logged, e.g.
 * `ENOENT: no such file or directory, fsconfig 'lowerdir+=/l' -> '/m' (overlay: ...)`.
 * Bad arguments reject with a TypeError.
 */
export function mountOverlay(
  target: string,
  options: OverlayMountOptions,
): Promise<void>;
