import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { keyedLock } from './keyed-lock.js';

describe('keyed lock', () => {
  it('runs one operation at a time per key, in order, and keys independently', async () => {
    const lock = keyedLock();
    const log: string[] = [];
    const op = (key: string, name: string, ms: number) => lock.run(key, async () => {
      log.push(`${name}+`);
      await sleep(ms);
      log.push(`${name}-`);
      return name;
    });
    const results = await Promise.all([op('a', 'a1', 30), op('a', 'a2', 1), op('b', 'b1', 10)]);
    expect(results).toEqual(['a1', 'a2', 'b1']);
    expect(log.indexOf('a1-')).toBeLessThan(log.indexOf('a2+'));
    expect(log.indexOf('b1+')).toBeLessThan(log.indexOf('a1-'));
  });

  it('goes on after a failed operation', async () => {
    const lock = keyedLock();
    await expect(lock.run('k', async () => { throw new Error('x'); })).rejects.toThrow('x');
    expect(await lock.run('k', async () => 'next')).toBe('next');
  });
});
