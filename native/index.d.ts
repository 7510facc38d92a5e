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
   * 'fsmount' or 'move_mount'; for {@link runCommand} 'posix_spawn', or
   * 'chdir' when `cwd` is the problem).
   */
  syscall: string;
  /** The path the call acted on (the file, or the mount target). */
  path?: string;
  /** {@link extractBatch}: the position of the op that failed. */
  index?: number;
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

/** A point in time as the kernel takes it: whole seconds and nanoseconds. */
export interface Timespec {
  /** Seconds since the epoch, >= 0. */
  sec: number;
  /** 0 to 999,999,999. */
  nsec: number;
}

/** An extended attribute to set: full name (with namespace) and raw value. */
export type XattrPair = readonly [name: string, value: Uint8Array];

/**
 * Where an operation acts: `dir` is a directory relative to the extractor's
 * root ('' for the root itself) made of plain components (no '.', '..' or
 * empty ones) and containing no symlinks; `name` is one path component in it.
 * The kernel enforces both: `dir` is opened with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS), so a parent that would escape the root or pass
 * through a symlink fails (EXDEV or ELOOP) instead of being followed; `name`
 * is never followed.
 */
export interface ExtractTarget {
  dir: string;
  name: string;
}

/**
 * Owner, applied with fchown/fchownat (never following the entry); omitted,
 * the entry keeps the extracting process's owner. Both or neither.
 */
export interface ExtractOwner {
  uid?: number;
  gid?: number;
}

/**
 * Metadata of a created entry. Applied in containerd's order: owner, xattrs,
 * mode (after chown, which clears setuid/setgid), then times. `atime` and
 * `mtime` go together; omitted, the times are left as the creation set them.
 * Xattrs the filesystem does not support (ENOTSUP), and user.* attributes on
 * entries Linux refuses them for (symlinks, devices; EPERM), are skipped.
 */
export interface ExtractMeta extends ExtractOwner {
  xattrs?: readonly XattrPair[];
  atime?: Timespec;
  mtime?: Timespec;
}

/**
 * One unpacking step, see {@link extractBatch}. Entries that create something
 * replace whatever stands at their name (a whole tree if it is a directory),
 * except 'dir' over an existing directory, which merges (only the metadata
 * changes), and 'whiteout', which fails with EEXIST.
 */
export type ExtractOp =
  /** A directory; `mode` is its permission bits (07777). */
  | ({ op: 'dir'; mode: number } & ExtractTarget & ExtractMeta)
  /**
   * A regular file of `size` bytes with `data` as its first (or only) part.
   * When `data` holds fewer than `size` bytes the file stays open and the
   * next ops must be 'data' ops until the rest has been written; its metadata
   * is applied after the last byte.
   */
  | ({ op: 'file'; mode: number; size: number; data: readonly Uint8Array[] } & ExtractTarget & ExtractMeta)
  /** More bytes of the open file. */
  | { op: 'data'; data: readonly Uint8Array[] }
  /** A symlink to `target` (any text; it is never followed). */
  | ({ op: 'symlink'; target: string } & ExtractTarget & ExtractMeta)
  /**
   * A hardlink to the existing entry `targetDir`/`targetName` (same rules as
   * `dir`/`name`). The metadata applies to the shared inode; the mode is not
   * set when the target is a symlink.
   */
  | ({ op: 'link'; mode: number; targetDir: string; targetName: string } & ExtractTarget & ExtractMeta)
  /** A device or FIFO: `mode` is S_IFCHR, S_IFBLK or S_IFIFO with permission bits; `rdev` from makedev. */
  | ({ op: 'node'; mode: number; rdev: number } & ExtractTarget & ExtractMeta)
  /** An overlay whiteout: a 0/0 character device with mode 0. */
  | ({ op: 'whiteout' } & ExtractTarget & ExtractOwner)
  /** Mark directory `dir` opaque for overlay: trusted.overlay.opaque=y. */
  | { op: 'opaque'; dir: string }
  /** Remove `name` and, for a directory, everything under it; absent is fine. */
  | ({ op: 'remove' } & ExtractTarget)
  /** Set the times of `name` (not following it): directories get theirs last. */
  | ({ op: 'times'; atime: Timespec; mtime: Timespec } & ExtractTarget);

/** An open root for {@link extractBatch}, from {@link extractor}. */
export interface Extractor {
  readonly __brand: 'Extractor';
}

/**
 * A handle for unpacking under `root` (opened on the first batch). Close it
 * with {@link closeExtractor}; garbage collection closes it otherwise.
 */
export function extractor(root: string): Extractor;

/**
 * Runs `ops` in order as one thread-pool job. The Uint8Arrays in `data` are
 * read in place, not copied: leave them unchanged until the promise settles.
 * The first failing op stops the batch: the promise rejects with a
 * {@link NativeError} whose `path` is the entry and whose `index` is the op's
 * position; the extractor is then unusable. One batch at a time per
 * extractor (a second concurrent call rejects with code ERR_INVALID_STATE).
 * Malformed ops reject with a TypeError before anything runs.
 */
export function extractBatch(extractor: Extractor, ops: readonly ExtractOp[]): Promise<void>;

/** Closes the root and any file left open; throws ERR_INVALID_STATE while a batch runs. */
export function closeExtractor(extractor: Extractor): void;

/** An incremental SHA-256, from {@link sha256Hasher}. */
export interface Sha256Hasher {
  readonly __brand: 'Sha256Hasher';
}

/** A new SHA-256 over no bytes yet (Node's own OpenSSL). */
export function sha256Hasher(): Sha256Hasher;

/**
 * Hashes `data` (one Uint8Array, or several in order) on the thread pool, so
 * the main thread is free while it runs. `data` is read in place: leave it
 * unchanged until the promise settles. A call while another runs on the same
 * hasher rejects with code 'ERR_INVALID_STATE'; bad arguments reject with a
 * TypeError.
 */
export function sha256Update(hasher: Sha256Hasher, data: Uint8Array | readonly Uint8Array[]): Promise<void>;

/**
 * The hex digest of everything hashed so far; hashing can go on afterwards.
 * Throws ERR_INVALID_STATE while an update runs.
 */
export function sha256Digest(hasher: Sha256Hasher): string;

/** A zstd compression or decompression context, from {@link zstdDecompressor} or {@link zstdCompressor}. */
export interface ZstdStream {
  readonly __brand: 'ZstdStream';
}

/** A streaming decompressor (concatenated and skippable frames included). */
export function zstdDecompressor(): ZstdStream;

/** A streaming compressor at `level` ({@link ZSTD} bounds; default ZSTD_CLEVEL_DEFAULT), with frame checksums. */
export function zstdCompressor(level?: number): ZstdStream;

/**
 * Feeds `input` through the stream on the thread pool and resolves with the
 * output it produced (chunks of at most 512 KiB; possibly none). `input` is
 * read in place: leave it unchanged until the promise settles. `end: true`
 * marks the end of input: a compressor finishes its frame; a decompressor
 * rejects if the data stopped inside a frame. Errors from libzstd reject with
 * code 'ERR_ZSTD'; a call while another runs on the same stream, or after
 * `end` or an error, rejects with code 'ERR_INVALID_STATE'.
 */
export function zstdTransform(stream: ZstdStream, input: Uint8Array, end: boolean): Promise<Buffer[]>;

/** Compression levels libzstd accepts. */
export declare const ZSTD: Readonly<{
  ZSTD_CLEVEL_DEFAULT: number;
  ZSTD_MIN_CLEVEL: number;
  ZSTD_MAX_CLEVEL: number;
}>;

/**
 * syncfs(2), run off the main thread: writes out the filesystem that holds
 * `path` (a file or directory on it). Rejects with a {@link NativeError}
 * (syscall 'open' or 'syncfs', path = path).
 */
export function syncfs(path: string): Promise<void>;

/** What {@link diskUsage} measured. */
export interface DiskUsage {
  /** Allocated bytes (st_blocks × 512) of every distinct inode. */
  size: number;
  /** Distinct inodes, `root` included. */
  inodes: number;
}

/**
 * The disk the tree at `root` takes, walked off the main thread without
 * following symlinks: each inode counted once by (device, inode) however many
 * hard links reach it, its allocated blocks added once (continuity's
 * fs.DiskUsage, what containerd's snapshotters record). Rejects with a
 * {@link NativeError} naming the syscall ('lstat', 'open', 'fdopendir',
 * 'readdir') and path that failed.
 */
export function diskUsage(root: string): Promise<DiskUsage>;

/** One call of an {@link fsBatch}. Modes are permission bits; `optional` lets the batch go on past its failure. */
export type FsBatchOp = { optional?: boolean } & (
  | { op: 'mkdir'; path: string; mode: number }
  /**
   * Create or truncate `path` and write `data` (UTF-8). With `tmp`, that file is written and renamed over
   * `path`, so a reader sees the old text or the new; with `sync`, it is opened O_SYNC.
   */
  | { op: 'writeFile'; path: string; data: string; mode: number; sync?: boolean; tmp?: string }
  /** open(2), O_CLOEXEC added; the result holds the descriptor, which is the caller's to close. */
  | { op: 'open'; path: string; flags: number; mode: number }
  | { op: 'fsync'; fd: number }
  | { op: 'close'; fd: number }
  /** fstat(2); the result holds size, mode and mtimeMs. */
  | { op: 'fstat'; fd: number }
  | { op: 'link'; from: string; to: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'unlink'; path: string }
  | { op: 'rmdir'; path: string }
  | { op: 'chmod'; path: string; mode: number }
  /** Set the access and modification times. */
  | { op: 'utimes'; path: string; timeMs: number }
);

/** How one op of an {@link fsBatch} went. */
export interface FsBatchResult {
  /** The op failed: a {@link NativeError} naming the syscall and path. */
  error?: NativeError;
  /** Not run: an earlier op that was not optional failed. */
  skipped?: true;
  /** `open`: the new descriptor. */
  fd?: number;
  /** `fstat`: the file's size, mode (type and permission bits) and modification time. */
  size?: number;
  mode?: number;
  mtimeMs?: number;
}

/**
 * Run `ops` in order as one job on the thread pool: one wake-up each way for
 * the lot, where Node's fs calls cost a round trip each (most of a small
 * content ingest's CPU on a virtual machine). A failed op ends the batch
 * unless it is optional; the ops after it are skipped. Resolves with one
 * result per op; rejects only for a malformed op (TypeError).
 */
export function fsBatch(ops: readonly FsBatchOp[]): Promise<FsBatchResult[]>;

/**
 * Enlarge the send buffer of the socket `fd` to `bytes` (SO_SNDBUFFORCE, or
 * SO_SNDBUF clamped to net.core.wmem_max without the privilege) and return
 * the size the kernel reports, which it doubles. A Unix stream socket carries
 * at most that much in flight: a buffer larger than the messages relayed over
 * it lets a writer hand a whole one to the kernel at once. Synchronous; throws
 * a {@link NativeError} (syscall 'setsockopt') for a descriptor that is not a
 * socket.
 */
export function setSendBuffer(fd: number, bytes: number): number;

/**
 * Put the calling thread under SCHED_IDLE: from then on it runs only when no
 * other thread wants the CPU. For a worker_thread doing speculative work; the
 * process's other threads keep their policy. Throws a {@link NativeError}
 * (syscall 'sched_setscheduler') if the kernel refuses.
 */
export function setThreadIdle(): void;

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  /** The command's working directory; default: this process's. */
  cwd?: string;
  /**
   * Written to the command's stdin (copied when runCommand is called), which
   * is then closed; without it, stdin is at EOF from the start. Whatever the
   * command does not read before it closes stdin or exits is dropped.
   */
  stdin?: Uint8Array;
  /**
   * Start the command in a process group of its own (setpgid(0, 0)), as
   * `detached` does for child_process.spawn: signals for this process's group
   * do not reach it, and {@link RunningCommand.kill} signals the whole group.
   * Default false.
   */
  newProcessGroup?: boolean;
  /**
   * Called on the main thread with the pid as soon as the process exists
   * (once, before `result` settles); not called if it could not be started.
   * It should not throw: Node 20 reports an exception from a native callback
   * only as a warning (DEP0168), unless run with
   * --force-node-api-uncaught-exceptions-policy.
   */
  onSpawn?: (pid: number) => void;
}

/** How a command ended, as child_process reports it, with all its output. */
export interface CommandResult {
  pid: number;
  /** The exit status, or null if a signal ended it. */
  code: number | null;
  /** The signal that ended it ('SIGKILL'), or null if it exited. */
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
}

/** A command started by {@link runCommand}. */
export interface RunningCommand {
  /** The process id; undefined until the process exists (see `onSpawn`). */
  readonly pid: number | undefined;
  /**
   * Settles once the process has exited and stdout and stderr are at EOF
   * (closed by the command and by everything it left running with them), or,
   * after {@link kill}, once the process has exited (output still held open
   * by a descendant is then abandoned). Rejects with a {@link NativeError} if
   * the process could not be started: syscall 'posix_spawn' and path = file
   * (ENOENT for a missing file, EACCES for one that is not executable), or
   * syscall 'chdir' and path = cwd for a missing or unusable `cwd`.
   */
  readonly result: Promise<CommandResult>;
  /**
   * Sends `signal` (a name, or a number; default 'SIGTERM') to the command's
   * process group when it has its own ({@link RunCommandOptions.newProcessGroup}),
   * else to the process. Callable at any time: before the process exists the
   * signal is sent as soon as it does; once the command has finished (or its
   * process was reaped, without a group of its own) nothing is sent, so a
   * reused pid is never signalled. Returns whether a signal was sent (or
   * queued). An unknown name throws a TypeError (code ERR_UNKNOWN_SIGNAL).
   */
  kill(signal?: NodeJS.Signals | number): boolean;
}

/**
 * Runs `file` with `argv` (argv[0] included, at least one element) and
 * environment `env` ('KEY=value' entries; nothing is inherited) to
 * completion, as child_process.spawn with piped stdio would, without its
 * fork() of the whole Node process on the main thread: the process is created
 * with posix_spawn (vfork-like, constant cost) on a thread of its own, which
 * also writes stdin, collects stdout and stderr and waits for the exit. `file`
 * is a path (not searched for in PATH; a relative one is taken from `cwd`).
 *
 * The command starts with stdin/stdout/stderr as pipes, no other descriptor,
 * an empty signal mask and every standard signal at its default disposition
 * (glibc leaves its two internal ones, 32 and 33, ignored). A running
 * command keeps the event loop alive, like a child process. Bad arguments
 * throw a TypeError (code ERR_INVALID_ARG_TYPE or ERR_INVALID_ARG_VALUE).
 */
export function runCommand(
  file: string,
  argv: readonly string[],
  env: readonly string[],
  options?: RunCommandOptions,
): RunningCommand;

/** Resident set size, in bytes, before and after a reclaimMemory call. */
export interface ReclaimedMemory {
  readonly rssBefore: number;
  readonly rssAfter: number;
}

/**
 * Give back what a busy period grew: a memory-reducing collection of this thread's V8 heap (several full
 * collections, the young generation shrunk, freed pages unmapped), then malloc_trim(0). Synchronous, on the
 * JS thread, because it is a garbage collection; a few milliseconds. Meant for a process that has gone idle,
 * never on a hot path.
 */
export function reclaimMemory(): ReclaimedMemory;
