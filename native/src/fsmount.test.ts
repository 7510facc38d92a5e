import { describe, it, expect, afterEach } from 'vitest';
import { access, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makedev, mknod, mountOverlay, umount2, MNT, S_IFCHR } from '../index.js';
import { isRoot, rejection, suiteTmpfs } from './test-support.js';



async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe('mountOverlay arguments', () => {
  it('rejects bad options with a TypeError', async () => {
    const noOpts = await rejection(mountOverlay('/x', undefined as never));
    expect(noOpts).toBeInstanceOf(TypeError);
    expect(noOpts.code).toBe('ERR_INVALID_ARG_TYPE');
    const noLowers = await rejection(mountOverlay('/x', { lowerdirs: [] }));
    expect(noLowers.code).toBe('ERR_INVALID_ARG_VALUE');
    const badLower = await rejection(mountOverlay('/x', { lowerdirs: [1 as unknown as string] }));
    expect(badLower.code).toBe('ERR_INVALID_ARG_TYPE');
    const upperOnly = await rejection(mountOverlay('/x', { lowerdirs: ['/a'], upperdir: '/u' }));
    expect(upperOnly.code).toBe('ERR_INVALID_ARG_VALUE');
    const badRo = await rejection(
      mountOverlay('/x', { lowerdirs: ['/a'], readonly: 1 as unknown as boolean }),
    );
    expect(badRo.code).toBe('ERR_INVALID_ARG_TYPE');
  });
});

// Everything happens under a tmpfs the suite mounts, so nothing depends on
// what the host's temp dir accepts as overlay layers.
describe.skipIf(!isRoot)('mountOverlay (root)', () => {
  const fs = suiteTmpfs('fsmount', '64m');
  let n = 0;
  const mounted: string[] = [];

  /** A fresh directory on the suite's tmpfs. */
  async function dir(name: string): Promise<string> {
    const d = join(fs(), `${n++}-${name}`);
    await mkdir(d, { recursive: true });
    return d;
  }

  afterEach(async () => {
    for (const target of mounted.splice(0).reverse()) {
      await umount2(target, MNT.MNT_DETACH).catch(() => {});
    }
  });


  it('mounts 1 lower + upper/work: writes land in upper, whiteouts hide lower files', async () => {
    const [lower, upper, work, merged] = await Promise.all(
      ['lower', 'upper', 'work', 'merged'].map(dir),
    ) as [string, string, string, string];
    await writeFile(join(lower, 'keep.txt'), 'keep');
    await writeFile(join(lower, 'gone.txt'), 'gone');
    // A whiteout in upper, as the layer applier will write one.
    await mknod(join(upper, 'gone.txt'), S_IFCHR | 0, makedev(0, 0));

    await mountOverlay(merged, { lowerdirs: [lower], upperdir: upper, workdir: work });
    mounted.push(merged);

    expect(await readFile(join(merged, 'keep.txt'), 'utf8')).toBe('keep');
    expect(await exists(join(merged, 'gone.txt'))).toBe(false);
    expect((await readdir(merged)).sort()).toEqual(['keep.txt']);

    await writeFile(join(merged, 'new.txt'), 'new');
    expect(await readFile(join(upper, 'new.txt'), 'utf8')).toBe('new');
    expect(await exists(join(lower, 'new.txt'))).toBe(false);

    const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
    expect(mountinfo).toMatch(new RegExp(` ${merged} .* - overlay overlay `));
  });

  it('mounts 200 lower layers', async () => {
    const lowers: string[] = [];
    for (let i = 0; i < 200; i++) {
      const l = await dir(`layer-with-a-longish-name-${String(i).padStart(3, '0')}`);
      await writeFile(join(l, `file-${i}.txt`), String(i));
      lowers.push(l);
    }
    // Far beyond what one page of mount(2) data could hold.
    expect(lowers.join(':').length).toBeGreaterThan(4096);
    const merged = await dir('merged-200');

    await mountOverlay(merged, { lowerdirs: lowers, readonly: true });
    mounted.push(merged);

    const names = await readdir(merged);
    expect(names).toHaveLength(200);
    for (let i = 0; i < 200; i++) {
      expect(await readFile(join(merged, `file-${i}.txt`), 'utf8')).toBe(String(i));
    }
  });

  it('orders lowerdirs top-most first, and passes extra options', async () => {
    const top = await dir('top');
    const bottom = await dir('bottom');
    await writeFile(join(top, 'f'), 'top');
    await writeFile(join(bottom, 'f'), 'bottom');
    const merged = await dir('merged-order');
    await mountOverlay(merged, { lowerdirs: [top, bottom], options: ['index=off', 'userxattr'] });
    mounted.push(merged);
    expect(await readFile(join(merged, 'f'), 'utf8')).toBe('top');
    const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
    const line = mountinfo.split('\n').find((l) => l.includes(` ${merged} `)) ?? '';
    expect(line).toContain('userxattr');
  });

  it('mounts lowers only read-only: writes fail with EROFS', async () => {
    // Without an upperdir overlayfs needs at least two lower layers.
    const lower = await dir('ro-lower');
    const lower2 = await dir('ro-lower2');
    await writeFile(join(lower, 'f'), 'ro');
    const merged = await dir('ro-merged');
    const one = await rejection(mountOverlay(merged, { lowerdirs: [lower], readonly: true }));
    expect(one.syscall).toBe('fsconfig');
    expect(one.code).toBe('EINVAL');
    expect(one.message).toContain("'FSCONFIG_CMD_CREATE'");
    await mountOverlay(merged, { lowerdirs: [lower, lower2], readonly: true });
    mounted.push(merged);
    expect(await readFile(join(merged, 'f'), 'utf8')).toBe('ro');
    const err = await rejection(writeFile(join(merged, 'g'), 'x'));
    expect(err.code).toBe('EROFS');
  });

  it('rejects a missing lowerdir at fsconfig with ENOENT, naming the key', async () => {
    const merged = await dir('bad-lower');
    const missing = join(fs(), 'no-such-layer');
    const err = await rejection(mountOverlay(merged, { lowerdirs: [missing] }));
    expect(err).toBeInstanceOf(Error);
    expect(err.syscall).toBe('fsconfig');
    expect(err.code).toBe('ENOENT');
    expect(err.path).toBe(merged);
    expect(err.message).toContain(`fsconfig 'lowerdir+=${missing}' -> '${merged}'`);
    expect(await readdir(merged)).toEqual([]);
  });

  it('rejects a bad option at fsconfig with the key in the message', async () => {
    const lower = await dir('opt-lower');
    const merged = await dir('opt-merged');
    const err = await rejection(
      mountOverlay(merged, { lowerdirs: [lower], options: ['no_such_option=1'] }),
    );
    expect(err.syscall).toBe('fsconfig');
    expect(err.code).toBe('EINVAL');
    expect(err.message).toContain("'no_such_option=1'");
  });

  it('rejects a missing target at move_mount with ENOENT', async () => {
    const lowers = [await dir('mv-lower'), await dir('mv-lower2')];
    const target = join(fs(), 'no-such-target');
    const err = await rejection(mountOverlay(target, { lowerdirs: lowers }));
    expect(err.syscall).toBe('move_mount');
    expect(err.code).toBe('ENOENT');
    expect(err.path).toBe(target);
    expect(err.message).toBe(`ENOENT: no such file or directory, move_mount '${target}'`);
  });
});
