import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { access, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { mount, umount2, MS, MNT } from '../index.js';
import { isRoot, rejection } from './test-support.js';



async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Mount points of this process, unescaped from /proc/self/mountinfo. */
async function mountPoints(): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .filter(Boolean)
    .map((line) =>
      (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) =>
        String.fromCharCode(parseInt(o, 8)),
      ),
    );
}

describe('constants and arguments', () => {
  it('exports the <sys/mount.h> flags', () => {
    expect(MS.MS_RDONLY).toBe(1);
    expect(MS.MS_BIND).toBe(4096);
    expect(MS.MS_REC).toBe(16384);
    expect(MS.MS_PRIVATE).toBe(1 << 18);
    expect(MNT.MNT_FORCE).toBe(1);
    expect(MNT.MNT_DETACH).toBe(2);
    expect(MNT.UMOUNT_NOFOLLOW).toBe(8);
    expect(Object.keys(MS)).toHaveLength(15);
    expect(Object.keys(MNT)).toHaveLength(4);
    expect(Object.isFrozen(MS) && Object.isFrozen(MNT)).toBe(true);
  });

  it('rejects bad arguments with a TypeError', async () => {
    const noTarget = await rejection(mount('tmpfs', 42 as unknown as string, 'tmpfs'));
    expect(noTarget).toBeInstanceOf(TypeError);
    expect(noTarget.code).toBe('ERR_INVALID_ARG_TYPE');

    const badFlags = await rejection(mount(null, '/nonexistent', null, -1));
    expect(badFlags).toBeInstanceOf(TypeError);
    expect(badFlags.code).toBe('ERR_INVALID_ARG_VALUE');

    const nul = await rejection(umount2('/tmp/a\0b'));
    expect(nul).toBeInstanceOf(TypeError);
    expect(nul.code).toBe('ERR_INVALID_ARG_VALUE');
  });
});

describe.skipIf(!isRoot)('mount and umount2 (root)', () => {
  let base = '';
  const mounted: string[] = [];

  async function doMount(
    source: string | null,
    target: string,
    fstype: string | null,
    flags = 0,
    data: string | null = null,
  ): Promise<void> {
    await mount(source, target, fstype, flags, data);
    mounted.push(target);
  }

  async function doUmount(target: string): Promise<void> {
    await umount2(target);
    mounted.splice(mounted.lastIndexOf(target), 1);
  }

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'flotilla-native-'));
  });

  afterAll(async () => {
    for (const target of mounted.reverse()) {
      await umount2(target, MNT.MNT_DETACH).catch(() => {});
    }
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('mounts a tmpfs, and a file written there is gone after umount2', async () => {
    const target = join(base, 'tmpfs');
    await mkdir(target);
    await doMount('tmpfs', target, 'tmpfs', MS.MS_NOSUID | MS.MS_NODEV, 'size=4m,mode=0755');
    expect(await mountPoints()).toContain(target);

    await writeFile(join(target, 'hello.txt'), 'hello');
    expect(await readFile(join(target, 'hello.txt'), 'utf8')).toBe('hello');

    await doUmount(target);
    expect(await mountPoints()).not.toContain(target);
    expect(await exists(join(target, 'hello.txt'))).toBe(false);
  });

  it('passes long data strings whole', async () => {
    const target = join(base, 'long-data');
    await mkdir(target);
    // ~3 KiB of options; the last one must reach the kernel.
    const data = 'size=1m,'.repeat(400) + 'mode=0711';
    expect(data.length).toBeGreaterThan(3000);
    await doMount(null, target, 'tmpfs', 0, data);
    expect((await stat(target)).mode & 0o777).toBe(0o711);
    await doUmount(target);
  });

  it('bind-mounts with null fstype and data, and remounts read-only', async () => {
    const src = join(base, 'bind-src');
    const target = join(base, 'bind-dst');
    await mkdir(src);
    await mkdir(target);
    await writeFile(join(src, 'f.txt'), 'bound');

    await doMount(src, target, null, MS.MS_BIND);
    expect(await readFile(join(target, 'f.txt'), 'utf8')).toBe('bound');

    await mount(null, target, null, MS.MS_REMOUNT | MS.MS_BIND | MS.MS_RDONLY, null);
    const erofs = await rejection(writeFile(join(target, 'g.txt'), 'x'));
    expect(erofs.code).toBe('EROFS');

    await doUmount(target);
  });

  it('mounts an overlay: lower files show, writes land in upper', async () => {
    // The overlay's directories sit on a tmpfs of their own, so the test does
    // not depend on what the temp dir's filesystem accepts as an upper layer.
    const backing = join(base, 'overlay');
    await mkdir(backing);
    await doMount('tmpfs', backing, 'tmpfs', 0, 'size=16m');
    const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) =>
      join(backing, d),
    ) as [string, string, string, string];
    for (const d of [lower, upper, work, merged]) await mkdir(d);
    await writeFile(join(lower, 'from-lower.txt'), 'lower');

    await doMount(
      'overlay',
      merged,
      'overlay',
      0,
      `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
    );
    expect(await readFile(join(merged, 'from-lower.txt'), 'utf8')).toBe('lower');

    await writeFile(join(merged, 'written.txt'), 'upper');
    expect(await readFile(join(upper, 'written.txt'), 'utf8')).toBe('upper');
    expect(await exists(join(lower, 'written.txt'))).toBe(false);

    await doUmount(merged);
    expect(await exists(join(merged, 'from-lower.txt'))).toBe(false);
    await doUmount(backing);
  });

  it('rejects a mount on a missing target with ENOENT', async () => {
    const target = join(base, 'does-not-exist');
    const err = await rejection(mount('tmpfs', target, 'tmpfs', 0, null));
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('ENOENT');
    expect(err.syscall).toBe('mount');
    expect(typeof err.errno).toBe('number');
    expect(err.errno).toBe(-constants.errno.ENOENT);
    expect(err.path).toBe(target);
    expect(err.message).toBe(`ENOENT: no such file or directory, mount 'tmpfs' -> '${target}'`);
  });

  it('rejects umount2 of a directory that is not a mount point with EINVAL', async () => {
    const target = join(base, 'not-a-mountpoint');
    await mkdir(target);
    const err = await rejection(umount2(target));
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('EINVAL');
    expect(err.syscall).toBe('umount2');
    expect(err.errno).toBe(-constants.errno.EINVAL);
    expect(err.path).toBe(target);
    expect(err.message).toBe(`EINVAL: invalid argument, umount2 '${target}'`);
  });
});
