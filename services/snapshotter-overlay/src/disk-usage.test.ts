import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { link, lstat, mkdir, mkdtemp, open, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diskUsage } from './disk-usage.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'overlay-du-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What continuity would count for these paths: their allocated blocks, each inode once. */
async function expected(...paths: string[]): Promise<{ size: number; inodes: number }> {
  const seen = new Map<string, number>();
  for (const p of paths) {
    const st = await lstat(p);
    seen.set(`${st.dev}:${st.ino}`, st.blocks * 512);
  }
  return { size: [...seen.values()].reduce((a, b) => a + b, 0), inodes: seen.size };
}

describe('diskUsage', () => {
  it('counts the root, every entry below it, and nothing twice', async () => {
    await mkdir(join(dir, 'd', 'e'), { recursive: true });
    await writeFile(join(dir, 'd', 'f'), Buffer.alloc(10_000, 1));
    await writeFile(join(dir, 'd', 'e', 'g'), 'x');
    await link(join(dir, 'd', 'f'), join(dir, 'hard'));
    await symlink('/nonexistent/target', join(dir, 'sym'));
    const usage = await diskUsage(dir);
    expect(usage).toEqual(await expected(dir, join(dir, 'd'), join(dir, 'd', 'e'), join(dir, 'd', 'f'), join(dir, 'd', 'e', 'g'), join(dir, 'sym')));
    // root, d, e, f (= hard), g, sym
    expect(usage.inodes).toBe(6);
  });

  it('counts allocated blocks, not apparent size', async () => {
    const fh = await open(join(dir, 'sparse'), 'w');
    await fh.truncate(64 * 1024 * 1024);
    await fh.close();
    const usage = await diskUsage(dir);
    expect(usage).toEqual(await expected(dir, join(dir, 'sparse')));
    expect(usage.size).toBeLessThan(1024 * 1024);
  });

  it('walks a tree larger than what it looks at between returns to the event loop', async () => {
    await mkdir(join(dir, 'many'));
    await Promise.all(Array.from({ length: 1100 }, (_, i) => writeFile(join(dir, 'many', `f${i}`), '')));
    let otherWorkRan = false;
    setImmediate(() => { otherWorkRan = true; });
    const usage = await diskUsage(dir);
    expect(otherWorkRan).toBe(true);
    // root, many, and the (empty) files
    expect(usage.inodes).toBe(1102);
    expect(usage.size).toBe((await expected(dir, join(dir, 'many'))).size);
  });

  it('fails for a missing root, as filepath.Walk does', async () => {
    await expect(diskUsage(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
