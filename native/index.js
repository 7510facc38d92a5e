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
