import { describe, expect, it } from 'vitest';
import { createKeyLock } from './key-lock.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('key lock', () => {
  it('runs holders of one name one at a time, in arrival order, and holders of other names alongside', async () => {
    const lock = createKeyLock();
    const log: string[] = [];
    const job = (names: string[], id: string) => lock.with(names, async () => {
      log.push(`${id}+`);
      await tick();
      log.push(`${id}-`);
    });
    await Promise.all([job(['a'], '1'), job(['a'], '2'), job(['b'], '3')]);
    expect(log.indexOf('1-')).toBeLessThan(log.indexOf('2+'));
    // b did not wait for a.
    expect(log.indexOf('3+')).toBeLessThan(log.indexOf('1-'));
  });

  it('never deadlocks on overlapping names asked for in different orders', async () => {
    const lock = createKeyLock();
    let inside = 0;
    let most = 0;
    const job = (names: string[]) => lock.with(names, async () => {
      most = Math.max(most, ++inside);
      await tick();
      inside--;
    });
    await Promise.all([job(['x', 'y']), job(['y', 'x']), job(['y', 'z']), job(['z', 'x'])]);
    expect(most).toBe(1);
  });

  it('lets go when the holder fails', async () => {
    const lock = createKeyLock();
    await expect(lock.with(['k'], async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    await expect(lock.with(['k'], async () => 'next')).resolves.toBe('next');
  });
});
