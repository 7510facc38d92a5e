import { describe, it, expect, beforeAll } from 'vitest';
import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lgetxattr, llistxattr, lremovexattr, lsetxattr, XATTR } from '../index.js';
import { isRoot, rejection, suiteTmpfs } from './test-support.js';



describe('xattr arguments', () => {
  it('rejects bad arguments with a TypeError', async () => {
    const badValue = await rejection(lsetxattr('/x', 'user.a', 'str' as unknown as Buffer));
    expect(badValue).toBeInstanceOf(TypeError);
    expect(badValue.code).toBe('ERR_INVALID_ARG_TYPE');
    const badName = await rejection(lgetxattr('/x', 1 as unknown as string));
    expect(badName.code).toBe('ERR_INVALID_ARG_TYPE');
    const badFlags = await rejection(lsetxattr('/x', 'user.a', Buffer.alloc(0), 8));
    expect(badFlags.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(XATTR).toEqual({ XATTR_CREATE: 1, XATTR_REPLACE: 2 });
  });
});

// The files live on a tmpfs mounted by the test: tmpfs supports user.* and
// trusted.* xattrs on 6.x kernels, whatever the host's temp dir is.
describe.skipIf(!isRoot)('xattrs (root)', () => {
  const fs = suiteTmpfs('xattr', '4m');
  let file = '';
  let link = '';

  beforeAll(async () => {
    file = join(fs(), 'file');
    link = join(fs(), 'link');
    await writeFile(file, 'data');
    await symlink('file', link);
  });

  it('sets, gets, lists and removes user.* and trusted.* on a file', async () => {
    await lsetxattr(file, 'user.flotilla', Buffer.from('hello'));
    const big = Buffer.alloc(3000, 0xab);
    await lsetxattr(file, 'trusted.flotilla', big);
    await lsetxattr(file, 'user.empty', Buffer.alloc(0));

    expect((await lgetxattr(file, 'user.flotilla')).toString()).toBe('hello');
    const got = await lgetxattr(file, 'trusted.flotilla');
    expect(Buffer.isBuffer(got)).toBe(true);
    expect(got.equals(big)).toBe(true);
    expect((await lgetxattr(file, 'user.empty')).length).toBe(0);
    expect((await llistxattr(file)).sort()).toEqual(
      ['trusted.flotilla', 'user.empty', 'user.flotilla'].sort(),
    );

    await lremovexattr(file, 'user.flotilla');
    await lremovexattr(file, 'user.empty');
    expect(await llistxattr(file)).toEqual(['trusted.flotilla']);
    await lremovexattr(file, 'trusted.flotilla');
    expect(await llistxattr(file)).toEqual([]);
  });

  it('honours XATTR_CREATE and XATTR_REPLACE', async () => {
    const replace = await rejection(
      lsetxattr(file, 'user.flags', Buffer.from('x'), XATTR.XATTR_REPLACE),
    );
    expect(replace.code).toBe('ENODATA');
    await lsetxattr(file, 'user.flags', Buffer.from('a'), XATTR.XATTR_CREATE);
    const create = await rejection(
      lsetxattr(file, 'user.flags', Buffer.from('b'), XATTR.XATTR_CREATE),
    );
    expect(create.code).toBe('EEXIST');
    await lsetxattr(file, 'user.flags', Buffer.from('c'), XATTR.XATTR_REPLACE);
    expect((await lgetxattr(file, 'user.flags')).toString()).toBe('c');
    await lremovexattr(file, 'user.flags');
  });

  it('acts on a symlink itself, not its target', async () => {
    // user.* is not allowed on symlinks; trusted.* is (for root).
    await lsetxattr(link, 'trusted.overlay.opaque', Buffer.from('y'));
    expect((await lgetxattr(link, 'trusted.overlay.opaque')).toString()).toBe('y');
    expect(await llistxattr(link)).toContain('trusted.overlay.opaque');
    expect(await llistxattr(file)).not.toContain('trusted.overlay.opaque');
    const onTarget = await rejection(lgetxattr(file, 'trusted.overlay.opaque'));
    expect(onTarget.code).toBe('ENODATA');
    await lremovexattr(link, 'trusted.overlay.opaque');
    expect(await llistxattr(link)).toEqual([]);
  });

  it('rejects a missing attribute with ENODATA, a missing file with ENOENT', async () => {
    const err = await rejection(lgetxattr(file, 'user.missing'));
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('ENODATA');
    expect(err.syscall).toBe('lgetxattr');
    expect(err.path).toBe(file);
    expect(err.message).toBe(`ENODATA: no data available, lgetxattr '${file}'`);

    const rm = await rejection(lremovexattr(file, 'user.missing'));
    expect(rm.code).toBe('ENODATA');
    expect(rm.syscall).toBe('lremovexattr');

    const missing = join(fs(), 'nope');
    const noent = await rejection(llistxattr(missing));
    expect(noent.code).toBe('ENOENT');
    expect(noent.syscall).toBe('llistxattr');
    expect(noent.path).toBe(missing);
  });
});
