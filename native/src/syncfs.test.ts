import { describe, it, expect } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syncfs } from '../index.js';
import { rejection } from './test-support.js';

describe('syncfs', () => {
  it('flushes the filesystem holding a path', async () => {
    await expect(syncfs(tmpdir())).resolves.toBeUndefined();
  });

  it('reports a missing path as the open that failed', async () => {
    const path = join(tmpdir(), 'flotilla-no-such-dir', 'x');
    const err = await rejection(syncfs(path));
    expect([err.code, err.syscall, err.path]).toEqual(['ENOENT', 'open', path]);
    expect((await rejection(syncfs(1 as unknown as string))).code).toBe('ERR_INVALID_ARG_TYPE');
  });
});
