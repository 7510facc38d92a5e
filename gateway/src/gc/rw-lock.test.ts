import { describe, expect, it } from 'vitest';
import { createRwLock } from './rw-lock.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('rw lock', () => {
  it('lets readers share and keeps a writer alone', async () => {
    const lock = createRwLock();
    const log: string[] = [];
    const reader = (n: string) => lock.read(async () => { log.push(`r${n}+`); await tick(); log.push(`r${n}-`); });
    const writer = (n: string) => lock.write(async () => { log.push(`w${n}+`); await tick(); log.push(`w${n}-`); });
    await Promise.all([reader('1'), reader('2'), writer('1'), reader('3')]);
    // Both early readers overlap; the writer waits for them; the late reader waits for the writer.
    expect(log.slice(0, 2)).toEqual(['r1+', 'r2+']);
    const w = log.indexOf('w1+');
    expect(log[w + 1]).toBe('w1-');
    expect(log.indexOf('r3+')).toBeGreaterThan(log.indexOf('w1-'));
    expect(log.indexOf('w1+')).toBeGreaterThan(Math.max(log.indexOf('r1-'), log.indexOf('r2-')));
  });

  it('releases on failure', async () => {
    const lock = createRwLock();
    await expect(lock.write(async () => { throw new Error('x'); })).rejects.toThrow('x');
    await expect(lock.read(async () => 1)).resolves.toBe(1);
  });
});
