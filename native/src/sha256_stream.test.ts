import { describe, it, expect } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { sha256Digest, sha256Hasher, sha256Update } from '../index.js';
import { rejection } from './test-support.js';

const hex = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

describe('sha256 hasher', () => {
  it('agrees with node:crypto over any split of the input, and keeps going after a digest', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const h = sha256Hasher();
    expect(sha256Digest(h)).toBe(hex());
    let at = 0;
    for (const step of [1, 100, 65536, 1 << 20, 7]) {
      await sha256Update(h, data.subarray(at, at + step));
      at += step;
      expect(sha256Digest(h)).toBe(hex(data.subarray(0, at)));
    }
    // Several pieces in one call, in order, including an empty one.
    await sha256Update(h, [data.subarray(at, at + 10), new Uint8Array(0), data.subarray(at + 10)]);
    expect(sha256Digest(h)).toBe(hex(data));
  });

  it('takes one update at a time, and refuses what is not bytes', async () => {
    const h = sha256Hasher();
    const first = sha256Update(h, randomBytes(1 << 20));
    const err = await rejection(sha256Update(h, new Uint8Array(1)));
    expect(err.code).toBe('ERR_INVALID_STATE');
    expect(() => sha256Digest(h)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    await first;
    expect(sha256Digest(h)).toMatch(/^[0-9a-f]{64}$/);
    expect(await rejection(sha256Update(h, 'text' as never))).toBeInstanceOf(TypeError);
    expect(() => sha256Digest({} as never)).toThrow(TypeError);
  });
});
