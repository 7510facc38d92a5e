import { UnavailableError } from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';

/** A lock held this long is more likely a leaked writer than contention; containerd warns about it too. */
const LONG_HELD_MS = 30_000;

export interface RefLocks {
  /** Take the ref's lock or fail with Unavailable, saying for how long it has been held. */
  tryLock(ref: string): void;
  unlock(ref: string): void;
}

/**
 * One writer per ref at a time, within this process (containerd's locks.go). Not a file lock: a second
 * process on the same root is not supported, as with containerd.
 */
export function createRefLocks(log: Logger): RefLocks {
  const held = new Map<string, number>();
  return {
    tryLock(ref) {
      const since = held.get(ref);
      if (since !== undefined) {
        const ms = Date.now() - since;
        if (ms > LONG_HELD_MS) log.warn({ ref, ms }, 'content reference locked for extended period');
        throw new UnavailableError(`ref ${ref} locked for ${formatDuration(ms)} (since ${new Date(since).toISOString()})`);
      }
      held.set(ref, Date.now());
    },
    unlock(ref) {
      held.delete(ref);
    },
  };
}

/** Roughly Go's Duration.String for the message: "1.5s", "250ms". */
function formatDuration(ms: number): string {
  return ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`;
}
