import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diskUsage } from '../index.js';
import { rejection } from './test-support.js';

/** The same measure done the slow way: every path's lstat, inodes counted once. */
function expected(root: string): { size: number; inodes: number } {
  const seen = new Map<string, number>();
  const walk = (p: string) => {
    const st = lstatSync(p);
    seen.set(`${st.dev}:${st.ino}`, st.blocks * 512);
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
  };
  walk(root);
  return { size: [...seen.values()].reduce((a, b) => a + b, 0), inodes: seen.size };
}

describe('diskUsage', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'flotilla-du-')); });
  afterEach(() => { chmodSync(dir, 0o755); rmSync(dir, { recursive: true, force: true }); });

  it('counts every inode once, hard links included, without following symlinks', async () => {
    mkdirSync(join(dir, 'a/b/c'), { recursive: true });
    writeFileSync(join(dir, 'a/big'), Buffer.alloc(300_000, 1));
    writeFileSync(join(dir, 'a/b/small'), 'x');
    linkSync(join(dir, 'a/big'), join(dir, 'a/b/c/same-as-big'));
    symlinkSync('/usr', join(dir, 'a/usr-link'));
    writeFileSync(join(dir, 'empty'), '');
    const got = await diskUsage(dir);
    expect(got).toEqual(expected(dir));
    // root, a, a/b, a/b/c, big (twice linked), small, the symlink, empty
    expect(got.inodes).toBe(8);
    expect(got.size).toBeGreaterThanOrEqual(300_000);
    // A file as the root is measured alone.
    expect(await diskUsage(join(dir, 'a/big'))).toEqual({ size: lstatSync(join(dir, 'a/big')).blocks * 512, inodes: 1 });
  });

  it('reports the syscall and path that failed', async () => {
    const missing = join(dir, 'missing');
    const err = await rejection(diskUsage(missing));
    expect([err.code, err.syscall, err.path]).toEqual(['ENOENT', 'lstat', missing]);
    mkdirSync(join(dir, 'locked/inner'), { recursive: true });
    chmodSync(join(dir, 'locked'), 0o000);
    // root reads anything; only check the refusal when not root.
    if (process.getuid?.() !== 0) {
      const denied = await rejection(diskUsage(dir));
      expect(denied.code).toBe('EACCES');
    }
    chmodSync(join(dir, 'locked'), 0o755);
    expect((await rejection(diskUsage(1 as unknown as string))).code).toBe('ERR_INVALID_ARG_TYPE');
  });
});
