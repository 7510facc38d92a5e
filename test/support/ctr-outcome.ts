import { errorClasses } from '@flotilla/errdefs';
import type { ExecResult } from './exec.js';

/**
 * The error kind a ctr command ended with, read from its last stderr line (ctr prints the server's
 * message, which ends in the errdefs kind: `ctr: image "x": not found` → NotFound), or 'ok'. Comparing
 * kinds rather than whole messages lets a test hold Flotilla to containerd where wording may differ.
 */
export function ctrOutcome(r: ExecResult): string {
  if (r.code === 0) return 'ok';
  const kinds = Object.keys(errorClasses) as (keyof typeof errorClasses)[];
  const tail = r.stderr.trim().split('\n').at(-1) ?? '';
  for (const k of kinds) if (tail.endsWith(new errorClasses[k]('').message)) return k;
  return `exit ${r.code}: ${tail}`;
}
