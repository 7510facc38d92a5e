import { describe, it, expect, beforeEach } from 'vitest';
import { lstat, mkdir, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  closeExtractor,
  extractBatch,
  extractor,
  lgetxattr,
  makedev,
  S_IFCHR,
  S_IFIFO,
} from '../index.js';
import type { ExtractOp, Extractor } from '../index.js';
import { isRoot, rejection, suiteTmpfs } from './test-support.js';

const T1 = { sec: 1_600_000_000, nsec: 123_456_789 };
const T2 = { sec: 1_700_000_000, nsec: 5 };
const bytes = (s: string) => Buffer.from(s);

describe('extractBatch arguments', () => {
  const ex = extractor('/nonexistent-root');

  it('refuses ops that could name something outside their directory', async () => {
    for (const op of [
      { op: 'file', dir: '', name: 'a/b', mode: 0o644, size: 0, data: [] },
      { op: 'file', dir: '', name: '..', mode: 0o644, size: 0, data: [] },
      { op: 'dir', dir: '../x', name: 'a', mode: 0o755 },
      { op: 'dir', dir: '/abs', name: 'a', mode: 0o755 },
      { op: 'dir', dir: 'a//b', name: 'c', mode: 0o755 },
      { op: 'link', dir: '', name: 'l', mode: 0, targetDir: 'x/..', targetName: 't' },
    ] as ExtractOp[]) {
      const err = await rejection(extractBatch(ex, [op]));
      expect(err).toBeInstanceOf(TypeError);
      expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
    }
  });

  it('refuses malformed ops and foreign handles', async () => {
    const bad = await rejection(extractBatch(ex, [{ op: 'node', dir: '', name: 'n', mode: 0o644, rdev: 0 }]));
    expect(bad.message).toMatch(/ops\[0\]: mode must name/);
    expect((await rejection(extractBatch(ex, [{ op: 'nope' } as unknown as ExtractOp]))).code).toBe('ERR_INVALID_ARG_VALUE');
    expect((await rejection(extractBatch({} as Extractor, []))).code).toBe('ERR_INVALID_ARG_TYPE');
  });
});

describe.skipIf(!isRoot)('extractBatch (root)', () => {
  const fs = suiteTmpfs('extract', '64m');
  let root = '';
  let outside = '';

  beforeEach(async () => {
    await rm(join(fs(), 'root'), { recursive: true, force: true });
    await rm(join(fs(), 'outside'), { recursive: true, force: true });
    root = join(fs(), 'root');
    outside = join(fs(), 'outside');
    await mkdir(root);
    await mkdir(outside);
    await writeFile(join(outside, 'secret'), 'keep', { mode: 0o600 });
  });

  async function apply(ops: ExtractOp[]): Promise<void> {
    const ex = extractor(root);
    try {
      await extractBatch(ex, ops);
    } finally {
      closeExtractor(ex);
    }
  }

  it('creates files with content, owner, xattrs, setuid mode and times', async () => {
    await apply([
      { op: 'dir', dir: '', name: 'bin', mode: 0o755, uid: 0, gid: 0 },
      {
        op: 'file', dir: 'bin', name: 'su', mode: 0o4755, uid: 1000, gid: 1001, size: 11,
        data: [bytes('hello'), bytes(' world')], xattrs: [['user.k', bytes('v')], ['security.capability', Buffer.from([1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])]],
        atime: T2, mtime: T1,
      },
    ]);
    const p = join(root, 'bin/su');
    const st = await stat(p, { bigint: true });
    expect(await readFile(p, 'utf8')).toBe('hello world');
    expect(Number(st.mode) & 0o7777).toBe(0o4755);
    expect([Number(st.uid), Number(st.gid)]).toEqual([1000, 1001]);
    expect(st.mtimeNs).toBe(BigInt(T1.sec) * 1_000_000_000n + BigInt(T1.nsec));
    expect(st.atimeNs).toBe(BigInt(T2.sec) * 1_000_000_000n + BigInt(T2.nsec));
    expect((await lgetxattr(p, 'user.k')).toString()).toBe('v');
    expect((await lgetxattr(p, 'security.capability'))[0]).toBe(1);
  });

  it('writes a file across batches and applies its metadata after the last byte', async () => {
    const ex = extractor(root);
    const big = Buffer.alloc(3 << 20, 7);
    await extractBatch(ex, [{ op: 'file', dir: '', name: 'big', mode: 0o2750, gid: 5, uid: 6, size: big.length, data: [big.subarray(0, 1 << 20)], mtime: T1, atime: T1 }]);
    expect((await stat(join(root, 'big'))).size).toBe(1 << 20);
    // Anything but its data while the file is open is a mistake of the caller.
    const ex2 = extractor(root);
    await extractBatch(ex2, [{ op: 'file', dir: '', name: 'half', mode: 0o644, size: 10, data: [bytes('12345')] }]);
    const wrong = await rejection(extractBatch(ex2, [{ op: 'dir', dir: '', name: 'd', mode: 0o755 }]));
    expect(wrong.code).toBe('EINVAL');
    closeExtractor(ex2);

    await extractBatch(ex, [{ op: 'data', data: [big.subarray(1 << 20, 2 << 20)] }]);
    await extractBatch(ex, [{ op: 'data', data: [big.subarray(2 << 20)] }, { op: 'dir', dir: '', name: 'after', mode: 0o700 }]);
    closeExtractor(ex);
    const st = await stat(join(root, 'big'));
    expect(st.size).toBe(big.length);
    expect((await readFile(join(root, 'big'))).equals(big)).toBe(true);
    expect(st.mode & 0o7777).toBe(0o2750);
    expect([st.uid, st.gid, st.mtimeMs]).toEqual([6, 5, T1.sec * 1000 + 123.456789]);
    expect((await stat(join(root, 'after'))).isDirectory()).toBe(true);
  });

  it('merges into an existing directory and replaces anything else, never following a symlink', async () => {
    await mkdir(join(root, 'd'));
    await writeFile(join(root, 'd/kept'), 'x');
    await writeFile(join(root, 'f'), 'x');
    await symlink(join(outside, 'secret'), join(root, 'link'));
    await symlink(outside, join(root, 'dirlink'));
    await mkdir(join(root, 'tree/sub'), { recursive: true });
    await writeFile(join(root, 'tree/sub/x'), 'x');
    await apply([
      { op: 'dir', dir: '', name: 'd', mode: 0o711 },
      { op: 'dir', dir: '', name: 'f', mode: 0o755 },
      { op: 'file', dir: '', name: 'link', mode: 0o644, size: 3, data: [bytes('new')] },
      { op: 'dir', dir: '', name: 'dirlink', mode: 0o755 },
      { op: 'symlink', dir: '', name: 'tree', target: '/etc' },
    ]);
    expect(await readdir(join(root, 'd'))).toEqual(['kept']);
    expect((await stat(join(root, 'd'))).mode & 0o777).toBe(0o711);
    expect((await lstat(join(root, 'f'))).isDirectory()).toBe(true);
    expect((await lstat(join(root, 'link'))).isFile()).toBe(true);
    expect((await lstat(join(root, 'dirlink'))).isDirectory()).toBe(true);
    expect(await readlink(join(root, 'tree'))).toBe('/etc');
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('keep');
    expect(await readdir(outside)).toEqual(['secret']);
  });

  it('makes symlinks, hardlinks, FIFOs, devices and whiteouts', async () => {
    await apply([
      { op: 'file', dir: '', name: 'target', mode: 0o640, size: 1, data: [bytes('t')], uid: 7, gid: 7 },
      { op: 'symlink', dir: '', name: 'sym', target: '../../escape', uid: 3, gid: 4, mtime: T1, atime: T1 },
      { op: 'link', dir: '', name: 'hard', targetDir: '', targetName: 'target', mode: 0o600, uid: 8, gid: 9 },
      { op: 'link', dir: '', name: 'hardsym', targetDir: '', targetName: 'sym', mode: 0o777, uid: 3, gid: 4 },
      { op: 'node', dir: '', name: 'fifo', mode: S_IFIFO | 0o620, rdev: 0 },
      { op: 'node', dir: '', name: 'null', mode: S_IFCHR | 0o666, rdev: makedev(1, 3) },
      { op: 'whiteout', dir: '', name: 'gone', uid: 11, gid: 12 },
    ]);
    const sym = await lstat(join(root, 'sym'));
    expect(sym.isSymbolicLink()).toBe(true);
    expect([sym.uid, sym.gid, sym.mtimeMs]).toEqual([3, 4, T1.sec * 1000 + 123.456789]);
    const hard = await stat(join(root, 'hard'));
    expect(hard.ino).toBe((await stat(join(root, 'target'))).ino);
    expect([hard.nlink, hard.mode & 0o7777, hard.uid, hard.gid]).toEqual([2, 0o600, 8, 9]);
    expect((await lstat(join(root, 'hardsym'))).isSymbolicLink()).toBe(true);
    expect((await lstat(join(root, 'fifo'))).mode & 0o7777).toBe(0o620);
    expect((await lstat(join(root, 'fifo'))).isFIFO()).toBe(true);
    expect((await lstat(join(root, 'null'))).rdev).toBe(makedev(1, 3));
    expect((await lstat(join(root, 'null'))).mode & 0o7777).toBe(0o666);
    const wh = await lstat(join(root, 'gone'));
    expect([wh.isCharacterDevice(), wh.rdev, wh.mode & 0o7777, wh.uid, wh.gid]).toEqual([true, 0, 0, 11, 12]);
    // A whiteout never replaces: the upper directory it goes to starts empty.
    const again = await rejection(apply([{ op: 'whiteout', dir: '', name: 'gone' }]));
    expect(again.code).toBe('EEXIST');
  });

  it('marks directories opaque, removes trees and sets times last', async () => {
    await mkdir(join(root, 'a/b/c'), { recursive: true });
    await writeFile(join(root, 'a/b/c/f'), 'x');
    await apply([
      { op: 'opaque', dir: 'a' },
      { op: 'remove', dir: 'a', name: 'b' },
      { op: 'remove', dir: 'a', name: 'missing' },
      { op: 'times', dir: '', name: 'a', atime: T1, mtime: T2 },
    ]);
    expect((await lgetxattr(join(root, 'a'), 'trusted.overlay.opaque')).toString()).toBe('y');
    expect(await readdir(join(root, 'a'))).toEqual([]);
    expect((await stat(join(root, 'a'))).mtimeMs).toBe(T2.sec * 1000);
  });

  it('refuses parents that are symlinks, even ones pointing inside the root', async () => {
    await symlink(outside, join(root, 'out'));
    await mkdir(join(root, 'real'));
    await symlink('real', join(root, 'in'));
    for (const dir of ['out', 'in']) {
      const err = await rejection(apply([
        { op: 'dir', dir: '', name: 'ok', mode: 0o755 },
        { op: 'file', dir, name: 'secret', mode: 0o777, size: 4, data: [bytes('evil')] },
      ]));
      expect(err.code).toBe('ELOOP');
      expect(err.syscall).toBe('openat2');
      expect(err.index).toBe(1);
      expect(err.path).toBe(join(root, dir));
    }
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('keep');
    expect(await readdir(join(root, 'real'))).toEqual([]);
    const link = await rejection(apply([{ op: 'link', dir: '', name: 'l', mode: 0o644, targetDir: 'out', targetName: 'secret' }]));
    expect(link.code).toBe('ELOOP');
    expect(await readdir(root)).not.toContain('l');
  });

  it('reports the failing op and refuses further use', async () => {
    const ex = extractor(root);
    const err = await rejection(extractBatch(ex, [
      { op: 'dir', dir: '', name: 'x', mode: 0o755 },
      { op: 'file', dir: 'missing', name: 'f', mode: 0o644, size: 0, data: [] },
    ]));
    expect(err.code).toBe('ENOENT');
    expect(err.index).toBe(1);
    expect(err.message).toBe(`ENOENT: no such file or directory, openat2 '${join(root, 'missing')}'`);
    expect((await rejection(extractBatch(ex, []))).code).toBe('ERR_INVALID_STATE');

    const busy = extractor(root);
    const running = extractBatch(busy, [{ op: 'dir', dir: '', name: 'y', mode: 0o755 }]);
    expect((await rejection(extractBatch(busy, []))).code).toBe('ERR_INVALID_STATE');
    expect(() => closeExtractor(busy)).toThrow(/running/);
    await running;
    closeExtractor(busy);
    expect((await rejection(extractBatch(busy, []))).code).toBe('ERR_INVALID_STATE');
  });
});
