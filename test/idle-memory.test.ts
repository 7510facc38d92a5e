import { describe, expect, it } from 'vitest';
import { serviceNames } from '@flotilla/plugin';
import { startFlotilla } from './support/flotilla.js';
import { waitFor } from './support/exec.js';

/** The services whose processes logged that they gave memory back. */
function reclaimed(log: string): Set<string> {
  const out = new Set<string>();
  for (const line of log.split('\n')) {
    if (!line.includes('"gave back idle memory"')) continue;
    const m = /"service":"([^"]+)"/.exec(line);
    if (m) out.add(m[1]!);
  }
  return out;
}

describe('idle memory, across the cluster', () => {
  it('every process gives back what start-up grew once idle, and reclaim_idle_memory = false stops it everywhere', async () => {
    const on = await startFlotilla({ logLevel: 'debug' });
    let took: number;
    try {
      // Start-up itself is a busy period; once the processes are idle each gives its garbage back.
      const t0 = Date.now();
      await waitFor(() => reclaimed(on.log()).size === serviceNames.length + 1 || undefined, 'every process to reclaim', 20_000);
      took = Date.now() - t0;
      expect([...reclaimed(on.log())].sort()).toEqual(['gateway', ...serviceNames].sort());
      expect((await on.ctr(['version'])).code).toBe(0);
    } finally {
      await on.stop();
    }

    const off = await startFlotilla({
      logLevel: 'debug',
      config: 'version = 3\n[plugins."io.flotilla.process.v1"]\n  initial_backoff = "1500ms"\n  reclaim_idle_memory = false\n',
    });
    try {
      // Twice as long as the whole cluster needed above, and never less than a few idle intervals.
      await new Promise((r) => setTimeout(r, Math.max(2 * took, 6000)));
      expect((await off.ctr(['version'])).code).toBe(0);
      expect([...reclaimed(off.log())]).toEqual([]);
    } finally {
      await off.stop();
    }
  }, 90_000);
});
