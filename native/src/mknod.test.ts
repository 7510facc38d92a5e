import { describe, it, expect } from 'vitest';
import { lstat } from 'node:fs/promises';
import { constants } from 'node:os';
import { constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import { makedev, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from '../index.js';
import { isRoot, rejection, suiteTmpfs } from './test-support.js';



describe('makedev and constants', () => {
  it('exports the <sys/stat.h> file types', () => {
    expect(S_IFCHR).toBe(fsConstants.S_IFCHR);
    expect(S_IFBLK).toBe(fsConstants.S_IFBLK);
    expect(S_IFIFO).toBe(fsConstants.S_IFIFO);
  });

  it('computes dev_t like glibc', () => {
    expect(makedev(0, 0)).toBe(0);
    expect(makedev(8, 1)).toBe(0x801);
    expect(makedev(1, 3)).toBe(0x103);
    // minor above 255 spills into the high bits: glibc's encoding.
    expect(makedev(259, 0x12345)).toBe(((0x12345 & 0xffffff00) * 4096 + 259 * 256 + 0x45) >>> 0);
  });

  it('throws on bad arguments and rejects mknod ones', async () => {
    expect(() => makedev(-1, 0)).toThrow(TypeError);
    expect(() => makedev('1' as unknown as number, 0)).toThrow(TypeError);
    expect(() => makedev(0xffffffff, 0xffffffff)).toThrow(RangeError);
    const bad = await rejection(mknod('/x', S_IFCHR, 1.5));
    expect(bad).toBeInstanceOf(TypeError);
    expect(bad.code).toBe('ERR_INVALID_ARG_VALUE');
  });
});

describe.skipIf(!isRoot)('mknod (root)', () => {
  const fs = suiteTmpfs('mknod', '1m');

  it('makes an overlay whiteout: a 0/0 character device', async () => {
    const path = join(fs(), 'whiteout');
    await mknod(path, S_IFCHR | 0, makedev(0, 0));
    const st = await lstat(path);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0);
    expect(st.mode & 0o7777).toBe(0);
  });

  it('makes a character device with a device number, and a FIFO', async () => {
    const dev = join(fs(), 'null');
    await mknod(dev, S_IFCHR | 0o600, makedev(1, 3));
    const st = await lstat(dev);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(makedev(1, 3));

    const fifo = join(fs(), 'fifo');
    await mknod(fifo, S_IFIFO | 0o644, 0);
    expect((await lstat(fifo)).isFIFO()).toBe(true);
  });

  it('rejects an existing path with EEXIST', async () => {
    const path = join(fs(), 'twice');
    await mknod(path, S_IFCHR, 0);
    const err = await rejection(mknod(path, S_IFCHR, 0));
    expect(err.code).toBe('EEXIST');
    expect(err.errno).toBe(-constants.errno.EEXIST);
    expect(err.syscall).toBe('mknod');
    expect(err.path).toBe(path);
    expect(err.message).toBe(`EEXIST: file exists, mknod '${path}'`);
  });
});
