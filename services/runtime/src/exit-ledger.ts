import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Which tasks' init exits have reached the event service, kept in each bundle so it outlives this
 * process. A shim retries an exit it could not deliver (the runtime was down) for about twenty seconds
 * and then gives up; a restarted runtime publishes the exit itself when the ledger does not have it, and
 * drops a late retry when it does, so subscribers see each task exit once.
 */
export interface ExitLedger {
  /**
   * Claim the exit of the task whose bundle this is for delivery: false when it was delivered (or is
   * being delivered) already. A claim is either `confirm`ed once delivered or `release`d on failure.
   */
  claim(bundlePath: string): boolean;
  confirm(bundlePath: string): Promise<void>;
  release(bundlePath: string): void;
  /** The task was deleted: its bundle and its record go together. */
  forget(bundlePath: string): void;
}

const MARKER = '.exit-published';

export function exitLedger(): ExitLedger {
  const claimed = new Set<string>();
  return {
    claim(path) {
      if (claimed.has(path) || existsSync(join(path, MARKER))) return false;
      claimed.add(path);
      return true;
    },
    async confirm(path) {
      // The bundle may be gone already (the task deleted meanwhile): then there is nothing to remember.
      await writeFile(join(path, MARKER), '').catch(() => undefined);
    },
    release(path) {
      claimed.delete(path);
    },
    forget(path) {
      claimed.delete(path);
    },
  };
}
