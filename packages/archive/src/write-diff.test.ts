import { beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmod, link, mkdir, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lsetxattr, mountOverlay, umount2 } from '@flotilla/native';
import { applyLayer } from './apply-layer.js';
import { createTarReader } from './tar-reader.js';
import { chunks, isRoot, suiteTmpfs, treeSnapshot } from './test-support.js';
import { writeDiff, writeOverlayDiff } from './write-diff.js';

const CAP = Buffer.from('0100000200200000000000000000000000000000', 'hex');

async function collectTar(write: (sink: (b: Buffer) => void) => Promise<unknown>): Promise<Buffer> {
  const out: Buffer[] = [];
  await write((b) => { out.push(Buffer.from(b)); });
  return Buffer.concat(out);
}

async function entryNames(tar: Buffer): Promise<string[]> {
  const r = createTarReader(chunks(tar, 65_536));
  const names: string[] = [];
  for (let h = await r.next(); h !== undefined; h = await r.next()) names.push(h.type === 'hardlink' ? `${h.name} => ${h.linkname}` : h.name);
  return names;
}

describe.skipIf(!isRoot)('writeDiff (root)', () => {
  const fs = suiteTmpfs('diff');
  const dir = (name: string) => join(fs(), name);

  beforeEach(async () => {
    for (const d of ['lower', 'upper', 'copy', 'work', 'merged']) await rm(dir(d), { recursive: true, force: true });
    const lower = dir('lower');
    await mkdir(join(lower, 'etc/conf.d'), { recursive: true });
    await mkdir(join(lower, 'var/cache/deep'), { recursive: true });
    await mkdir(join(lower, 'opt/app'), { recursive: true });
    await writeFile(join(lower, 'etc/hosts'), 'hosts');
    await writeFile(join(lower, 'etc/same-size'), 'aaaa');
    await writeFile(join(lower, 'etc/conf.d/a'), 'a');
    await writeFile(join(lower, 'var/cache/deep/blob'), 'b');
    await writeFile(join(lower, 'opt/app/bin'), 'bin');
    await writeFile(join(lower, 'file-becomes-dir'), 'f');
    await writeFile(join(lower, 'shared'), 'shared');
    await link(join(lower, 'shared'), join(lower, 'shared-link'));
    await symlink('etc/hosts', join(lower, 'sym'));
    // Whole-second times, as after extraction from a tar: only content tells changes apart then.
    for (const p of ['etc/hosts', 'etc/same-size', 'etc/conf.d/a', 'shared']) await utimes(join(lower, p), 1_600_000_000, 1_600_000_000);
  });

  /** The changes every test makes, to `root` (a copy of the lower tree, or an overlay mount of it). */
  async function change(root: string): Promise<void> {
    await writeFile(join(root, 'etc/hosts'), 'changed hosts');
    await writeFile(join(root, 'etc/same-size'), 'bbbb');
    await utimes(join(root, 'etc/same-size'), 1_600_000_000, 1_600_000_000);
    await writeFile(join(root, 'etc/new'), 'new', { mode: 0o640 });
    await chmod(join(root, 'etc/conf.d/a'), 0o4711);
    await rm(join(root, 'var/cache'), { recursive: true });
    await rm(join(root, 'file-becomes-dir'));
    await mkdir(join(root, 'file-becomes-dir'));
    await writeFile(join(root, 'file-becomes-dir/inner'), 'inner');
    await rm(join(root, 'opt/app'), { recursive: true });
    await mkdir(join(root, 'opt/app'));
    await writeFile(join(root, 'opt/app/fresh'), 'fresh');
    await unlink(join(root, 'sym'));
    await symlink('/etc/new', join(root, 'sym'));
    await writeFile(join(root, 'ping'), 'ping', { mode: 0o755 });
    await lsetxattr(join(root, 'ping'), 'security.capability', CAP);
    await link(join(root, 'etc/new'), join(root, 'new-link'));
    // mv copies when overlayfs refuses to rename a lower directory (EXDEV without redirect_dir).
    execFileSync('mv', [join(root, 'etc/conf.d'), join(root, 'etc/conf.moved')]);
    execFileSync('mkfifo', [join(root, 'fifo')]);
  }

  it('makes a layer that turns the lower tree into the upper one (double walk)', async () => {
    execFileSync('cp', ['-a', dir('lower'), dir('upper')]);
    await change(dir('upper'));
    const tar = await collectTar((sink) => writeDiff(dir('lower'), dir('upper'), sink));

    const names = await entryNames(tar);
    expect(names).toContain('var/.wh.cache');
    expect(names).toContain('etc/same-size');
    expect(names).toContain('new-link => etc/new');
    // Unchanged entries stay out; a deleted tree is one whiteout.
    expect(names).not.toContain('etc/conf.d/a');
    expect(names).not.toContain('var/cache/deep/blob');
    expect(names).not.toContain('shared');
    expect(names.indexOf('etc/')).toBeLessThan(names.indexOf('etc/hosts'));

    execFileSync('cp', ['-a', dir('lower'), dir('copy')]);
    await applyLayer(chunks(tar, 65_536), dir('copy'));
    expect(await treeSnapshot(dir('copy'))).toEqual(await treeSnapshot(dir('upper')));
  });

  it('keeps hardlink groups whole when only some names changed', async () => {
    execFileSync('cp', ['-a', dir('lower'), dir('upper')]);
    await link(join(dir('upper'), 'shared'), join(dir('upper'), 'third-link'));
    const tar = await collectTar((sink) => writeDiff(dir('lower'), dir('upper'), sink));
    // The new name carries the data; the unmodified names of the inode come along as links to it, so the
    // group is rebuilt whole.
    expect(await entryNames(tar)).toEqual(['third-link', 'shared => third-link', 'shared-link => third-link']);
    execFileSync('cp', ['-a', dir('lower'), dir('copy')]);
    await applyLayer(chunks(tar, 65_536), dir('copy'));
    expect((await treeSnapshot(dir('copy')))['third-link']!.links).toEqual(['shared', 'shared-link', 'third-link']);
  });

  it('clamps times to the source date epoch and dates whiteouts 1970', async () => {
    execFileSync('cp', ['-a', dir('lower'), dir('upper')]);
    await writeFile(join(dir('upper'), 'etc/hosts'), 'changed');
    await rm(join(dir('upper'), 'sym'));
    const tar = await collectTar((sink) => writeDiff(dir('lower'), dir('upper'), sink, { sourceDateEpoch: { sec: 1_000_000_000, nsec: 0 } }));
    const r = createTarReader(chunks(tar, 65_536));
    const times = new Map<string, number>();
    for (let h = await r.next(); h !== undefined; h = await r.next()) times.set(h.name, h.mtime.sec);
    expect(times.get('etc/hosts')).toBe(1_000_000_000);
    expect(times.get('.wh.sym')).toBe(0);
  });

  describe('from an overlay upper directory', () => {
    async function mounted<T>(fn: (merged: string) => Promise<T>, readonly = false): Promise<T> {
      await mkdir(dir('merged'), { recursive: true });
      await mkdir(dir('work'), { recursive: true });
      await mkdir(dir('upper'), { recursive: true });
      await mountOverlay(dir('merged'), { lowerdirs: [dir('lower')], upperdir: dir('upper'), workdir: dir('work'), readonly, options: ['index=off', 'redirect_dir=off'] });
      try {
        return await fn(dir('merged'));
      } finally {
        await umount2(dir('merged'));
      }
    }

    it('writes whiteouts and opaque directories as .wh. entries, and the layer applies back', async () => {
      const expected = await mounted(async (merged) => {
        await change(merged);
        return treeSnapshot(merged);
      });
      const tar = await collectTar(async (sink) => expect(await writeOverlayDiff(dir('upper'), sink)).toBe(true));
      const names = await entryNames(tar);
      expect(names).toContain('var/.wh.cache');
      expect(names).toContain('opt/app/.wh..wh..opq');
      expect(names.indexOf('opt/app/')).toBeLessThan(names.indexOf('opt/app/.wh..wh..opq'));

      // Onto a copy of the lower tree, as a plain directory...
      execFileSync('cp', ['-a', dir('lower'), dir('copy')]);
      await applyLayer(chunks(tar, 65_536), dir('copy'));
      expect(await treeSnapshot(dir('copy'))).toEqual(expected);

      // ...and into a fresh upper directory of the same lower layer, in overlay form.
      await rm(dir('upper'), { recursive: true });
      await rm(dir('work'), { recursive: true });
      await mkdir(dir('upper'));
      await applyLayer(chunks(tar, 65_536), dir('upper'), { whiteouts: 'overlay', parents: [dir('lower')] });
      expect(await mounted((merged) => treeSnapshot(merged), true)).toEqual(expected);
    });

    it('gives the same tree as comparing the mounted trees', async () => {
      await mounted(async (merged) => change(merged));
      const fast = await collectTar((sink) => writeOverlayDiff(dir('upper'), sink));
      const slow = await mounted((merged) => collectTar((sink) => writeDiff(dir('lower'), merged, sink)), true);
      const results = [];
      for (const tar of [fast, slow]) {
        await rm(dir('copy'), { recursive: true, force: true });
        execFileSync('cp', ['-a', dir('lower'), dir('copy')]);
        await applyLayer(chunks(tar, 65_536), dir('copy'));
        results.push(await treeSnapshot(dir('copy')));
      }
      expect(results[0]).toEqual(results[1]);
    });

    it('declines upper directories that need their lower layers to be read', async () => {
      await mkdir(join(dir('upper'), 'moved'), { recursive: true });
      await lsetxattr(join(dir('upper'), 'moved'), 'trusted.overlay.redirect', Buffer.from('/opt/app'));
      const out: Buffer[] = [];
      expect(await writeOverlayDiff(dir('upper'), (b) => { out.push(b); })).toBe(false);
      expect(out).toEqual([]);
    });
  });
});
