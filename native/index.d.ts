/**
 * Error a failed syscall rejects with, shaped like Node's fs errors:
 * `EPERM: operation not permitted, mount 'overlay' -> '/x'`.
 */
export interface NativeError extends Error {
  /** Negated errno, as in Node (-1 for EPERM). */
  errno: number;
  /** Symbolic errno name ('EPERM'). */
  code: string;
  /** The syscall that failed ('mount', 'umount2'). */
  syscall: string;
  /** The path the call acted on (the mount target). */
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
