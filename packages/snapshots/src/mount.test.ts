import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MNT, umount2 } from '@flotilla/native';
import { mountAll, unmountAll } from './mount.js';

/** Mounting needs root, as for native's root-only suites. */
const isRoot = process.getuid?.() === 0;

/** Mount points at or under `dir`, from this process's mount table. */
async function mountsUnder(dir: string): Promise<string[]> {
  const table = await readFile('/proc/self/mountinfo', 'utf8');
  return table.split('\n').map((l) => l.split(' ')[4] ?? '').filter((p) => p === dir || p.startsWith(`${dir}/`));
}

describe.skipIf(!isRoot)('mountAll and unmountAll (root)', () => {
  let base = '';
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'snapshots-mount-'));
  });
  afterAll(async () => {
    for (const m of (await mountsUnder(base)).reverse()) await umount2(m, MNT.MNT_DETACH).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  });

  const dirs = async (name: string, ...subs: string[]): Promise<string[]> => {
    const paths = subs.map((s) => join(base, name, s));
    for (const p of paths) await mkdir(p, { recursive: true });
    return paths;
  };

  it('bind-mounts read-write and read-only', async () => {
    const [src, rw, ro] = (await dirs('bind', 'src', 'rw', 'ro')) as [string, string, string];
    await writeFile(join(src, 'f'), 'x');
    await mountAll([{ type: 'bind', source: src, target: '', options: ['rw', 'rbind'] }], rw);
    await mountAll([{ type: 'bind', source: src, target: '', options: ['ro', 'rbind'] }], ro);
    try {
      await writeFile(join(rw, 'g'), 'y');
      expect(await readdir(src)).toEqual(['f', 'g']);
      await expect(writeFile(join(ro, 'h'), 'z')).rejects.toMatchObject({ code: 'EROFS' });
    } finally {
      await unmountAll(rw);
      await unmountAll(ro);
    }
    expect(await readdir(ro)).toEqual([]);
  });

  it('mounts an overlay with more lower layers than one page of options could name', async () => {
    const layers = 150;
    const root = join(base, 'overlay-with-a-rather-long-directory-name-so-that-the-options-certainly-pass-a-page');
    const lowers: string[] = [];
    for (let i = 0; i < layers; i++) {
      const l = join(root, 'layers', String(i), 'fs');
      await mkdir(l, { recursive: true });
      await writeFile(join(l, `file-${i}`), String(i));
      await writeFile(join(l, 'top'), String(i));
      lowers.unshift(l); // nearest (last made) first
    }
    const [upper, work, target] = (await dirs('overlay-rw', 'upper', 'work', 'target')) as [string, string, string];
    const options = [`workdir=${work}`, `upperdir=${upper}`, `lowerdir=${lowers.join(':')}`, 'index=off'];
    expect(options.join(',').length).toBeGreaterThan(4096);
    await mountAll([{ type: 'overlay', source: 'overlay', target: '', options }], target);
    try {
      expect((await readdir(target)).length).toBe(layers + 1);
      expect(await readFile(join(target, 'top'), 'utf8')).toBe(String(layers - 1));
      await writeFile(join(target, 'new'), 'n');
      expect(await readdir(upper)).toEqual(['new']);
    } finally {
      await unmountAll(target);
    }
  });

  it('mounts an overlay read-only when asked, with other flags applied', async () => {
    const [a, b, target] = (await dirs('overlay-ro', 'a', 'b', 'target')) as [string, string, string];
    await writeFile(join(a, 'x'), '#!/bin/sh\n', { mode: 0o755 });
    await mountAll([{ type: 'overlay', source: 'overlay', target: '', options: [`lowerdir=${a}:${b}`, 'ro', 'nosuid'] }], target);
    try {
      await expect(writeFile(join(target, 'y'), '')).rejects.toMatchObject({ code: 'EROFS' });
      const line = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.split(' ')[4] === target);
      expect(line?.split(' ')[5]?.split(',')).toEqual(expect.arrayContaining(['ro', 'nosuid']));
    } finally {
      await unmountAll(target);
    }
  });

  it('mounts into a subdirectory of the target, never above it', async () => {
    const [src, target] = (await dirs('sub', 'src', 'target/inner')) as [string, string];
    const outer = join(base, 'sub', 'target');
    await writeFile(join(src, 'f'), 'x');
    await mountAll([{ type: 'bind', source: src, target: '../../inner', options: ['rbind'] }], outer);
    try {
      expect(await readdir(target)).toEqual(['f']);
    } finally {
      await unmountAll(target);
    }
  });

  it('undoes the mounts it made when a later one fails', async () => {
    const [src, target] = (await dirs('undo', 'src', 'target')) as [string, string];
    await expect(mountAll([
      { type: 'bind', source: src, target: '', options: ['rbind'] },
      { type: 'bind', source: join(base, 'undo', 'missing'), target: '', options: ['rbind'] },
    ], target)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await mountsUnder(target)).toEqual([]);
  });

  it('unmounts stacked mounts, and treats a plain or missing directory as done', async () => {
    const [a, b, target] = (await dirs('stack', 'a', 'b', 'target')) as [string, string, string];
    await mountAll([{ type: 'bind', source: a, target: '', options: ['rbind'] }], target);
    await mountAll([{ type: 'bind', source: b, target: '', options: ['rbind'] }], target);
    expect(await mountsUnder(target)).toHaveLength(2);
    await unmountAll(target);
    expect(await mountsUnder(target)).toEqual([]);
    await unmountAll(target);
    await unmountAll(join(base, 'stack', 'nonexistent'));
  });
});
