// @flotilla/native: the Linux syscalls Node lacks, as a Node-API addon.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const binding = require('./build/Release/flotilla_native.node');

/** mount(2) on the thread pool. */
export const mount = binding.mount;
/** umount2(2) on the thread pool. */
export const umount2 = binding.umount2;
/** MS_* mount flags, from <sys/mount.h> at build time. */
export const MS = binding.MS;
/** MNT_* / UMOUNT_* umount2 flags, from <sys/mount.h> at build time. */
export const MNT = binding.MNT;
/** lsetxattr(2) on the thread pool. */
export const lsetxattr = binding.lsetxattr;
/** lgetxattr(2) on the thread pool; resolves with the value as a Buffer. */
export const lgetxattr = binding.lgetxattr;
/** llistxattr(2) on the thread pool; resolves with the attribute names. */
export const llistxattr = binding.llistxattr;
/** lremovexattr(2) on the thread pool. */
export const lremovexattr = binding.lremovexattr;
/** XATTR_CREATE / XATTR_REPLACE lsetxattr flags, from <sys/xattr.h>. */
export const XATTR = binding.XATTR;
/** mknod(2) on the thread pool. */
export const mknod = binding.mknod;
/** makedev(3), computed by the C library: (major, minor) -> dev_t. */
export const makedev = binding.makedev;
/** File type bits from <sys/stat.h>, for mknod's mode. */
export const S_IFCHR = binding.S_IFCHR;
export const S_IFBLK = binding.S_IFBLK;
export const S_IFIFO = binding.S_IFIFO;
/** An overlay mount through fsopen/fsconfig/fsmount/move_mount. */
export const mountOverlay = binding.mountOverlay;
/** Batched unpacking under a root (see index.d.ts). */
export const extractor = binding.extractor;
export const extractBatch = binding.extractBatch;
export const closeExtractor = binding.closeExtractor;
/** Incremental SHA-256 on the thread pool (see index.d.ts). */
export const sha256Hasher = binding.sha256Hasher;
export const sha256Update = binding.sha256Update;
export const sha256Digest = binding.sha256Digest;

/** Streaming zstd on the thread pool (see index.d.ts). */
export const zstdDecompressor = binding.zstdDecompressor;
export const zstdCompressor = binding.zstdCompressor;
export const zstdTransform = binding.zstdTransform;
export const ZSTD = binding.ZSTD;
/** syncfs(2) on the thread pool. */
export const syncfs = binding.syncfs;
/** The disk a tree takes, walked on the thread pool (see index.d.ts). */
export const diskUsage = binding.diskUsage;
/** Small filesystem calls run in order as one thread-pool job. */
export const fsBatch = binding.fsBatch;
/** A connected socket's send buffer, enlarged (see index.d.ts). */
export const setSendBuffer = binding.setSendBuffer;
/** SCHED_IDLE for the calling thread (see index.d.ts). */
export const setThreadIdle = binding.setThreadIdle;
/** A program run to completion through posix_spawn on a thread of its own (see index.d.ts). */
export const runCommand = binding.runCommand;
/** A memory-reducing V8 collection plus malloc_trim, for a process that has fallen idle (see index.d.ts). */
export const reclaimMemory = binding.reclaimMemory;
