import { beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { lgetxattr, lsetxattr, makedev } from '@flotilla/native';
import { applyLayer, type ApplyOptions } from './apply-layer.js';
import { chunks, isRoot, suiteTmpfs, tarOf, treeSnapshot, type TestEntry } from './test-support.js';

const T = { sec: 1_650_000_000, nsec: 0 };
const NS_TIME = { sec: 1_600_000_000, nsec: 250_000_000 };
const CAP = Buffer.from('0100000200200000000000000000000000000000', 'hex');
const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe.skipIf(!isRoot)('applyLayer (root)', () => {
  const fs = suiteTmpfs('apply');
  let root = '';
  let outside = '';

  beforeEach(async () => {
    for (const d of ['root', 'outside', 'lower']) await rm(join(fs(), d), { recursive: true, force: true });
    root = join(fs(), 'root');
    outside = join(fs(), 'outside');
    await mkdir(root);
    await mkdir(outside);
    await writeFile(join(outside, 'secret'), 'keep', { mode: 0o600 });
  });

  const apply = async (entries: TestEntry[], opts: ApplyOptions = {}) => applyLayer(chunks(await tarOf(entries), 65_536), root, opts);

  async function refusal(entries: TestEntry[], opts: ApplyOptions = {}): Promise<Error> {
    try {
      await apply(entries, opts);
    } catch (err) {
      return err as Error;
    }
    throw new Error('expected the layer to be refused');
  }

  /** Nothing outside the root was created or changed. */
  async function outsideUntouched(): Promise<void> {
    expect(await readdir(outside)).toEqual(['secret']);
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('keep');
    expect((await stat(join(outside, 'secret'))).mode & 0o7777).toBe(0o600);
    expect((await readdir(fs())).sort()).toEqual(['outside', 'root']);
  }

  it('keeps modes, owners, setuid bits, xattrs, hardlinks, symlinks, devices and times', async () => {
    await apply([
      { name: './', type: 'directory', mode: 0o700 },
      { name: 'bin/', type: 'directory', mode: 0o755, mtime: T },
      { name: 'bin/busybox', type: 'file', mode: 0o4755, uid: 0, gid: 0, data: 'elf', mtime: NS_TIME },
      { name: 'bin/sh', type: 'symlink', linkname: 'busybox', uid: 7, gid: 8 },
      // A hardlink's header applies to the shared inode, as in containerd: real archives repeat the metadata.
      { name: 'bin/su', type: 'hardlink', linkname: 'bin/busybox', mode: 0o4755, mtime: NS_TIME },
      { name: 'bin/ping', type: 'file', mode: 0o755, data: 'p', xattrs: new Map([['security.capability', CAP], ['user.note', Buffer.from('hi')]]) },
      { name: 'bin/sneaky', type: 'file', mode: 0o644, data: 's', xattrs: new Map([['trusted.overlay.redirect', Buffer.from('/etc')]]) },
      { name: 'srv/', type: 'directory', mode: 0o2775, uid: 1000, gid: 50 },
      { name: 'srv/data', type: 'file', mode: 0o640, uid: 1000, gid: 50, data: 'x'.repeat(10_000) },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
      { name: 'dev/', type: 'directory', mode: 0o755 },
      { name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
      { name: 'dev/fifo', type: 'fifo', mode: 0o600 },
    ]);
    const tree = await treeSnapshot(root);
    expect(tree['bin/busybox']).toMatchObject({ type: 'file', mode: 0o4755, uid: 0, gid: 0, links: ['bin/busybox', 'bin/su'] });
    expect(tree['bin/su']).toMatchObject({ mode: 0o4755, links: ['bin/busybox', 'bin/su'] });
    expect(tree['bin/sh']).toMatchObject({ type: 'symlink', target: 'busybox', uid: 7, gid: 8 });
    expect(tree['bin/ping']!.xattrs).toEqual({ 'security.capability': CAP.toString('hex'), 'user.note': Buffer.from('hi').toString('hex') });
    // A layer may not set overlay's own attributes.
    expect(tree['bin/sneaky']!.xattrs).toBeUndefined();
    expect(tree['srv']).toMatchObject({ type: 'dir', mode: 0o2775, uid: 1000, gid: 50 });
    expect(tree['srv/data']).toMatchObject({ mode: 0o640, uid: 1000, gid: 50, size: 10_000 });
    expect(tree['tmp']!.mode).toBe(0o1777);
    expect(tree['dev/null']).toMatchObject({ type: 'char', rdev: makedev(1, 3), mode: 0o666 });
    expect(tree['dev/fifo']).toMatchObject({ type: 'fifo', mode: 0o600 });
    const busybox = await lstat(join(root, 'bin/busybox'), { bigint: true });
    expect(busybox.mtimeNs).toBe(1_600_000_000_250_000_000n);
    // Set after the entries inside it were created.
    expect((await stat(join(root, 'bin'))).mtimeMs).toBe(T.sec * 1000);
    // The root's own entry does not change the target.
    expect((await stat(root)).mode & 0o7777).toBe(0o755);
  });

  it('returns the uncompressed digest and size, for plain, gzip and zstd layers', async () => {
    const tar = await tarOf([{ name: 'f', type: 'file', data: 'content' }, { name: 'big', type: 'file', data: Buffer.alloc(3 << 20, 9) }]);
    // Bytes after the end-of-archive marker are part of what was digested (containerd reads them too).
    const withTrailer = Buffer.concat([tar, Buffer.alloc(1024)]);
    const zstd = execFileSync('zstd', ['-q', '-c'], { input: withTrailer, maxBuffer: 64 << 20 });
    for (const [input, compression] of [[withTrailer, 'none'], [gzipSync(withTrailer), 'gzip'], [zstd, 'zstd']] as const) {
      await rm(root, { recursive: true });
      await mkdir(root);
      const result = await applyLayer(chunks(input, 100_000), root, { batch: { maxOps: 4, maxBytes: 1 << 20 } });
      expect(result).toEqual({ digest: sha256(withTrailer), size: withTrailer.length, compression });
      expect((await readFile(join(root, 'big'))).equals(Buffer.alloc(3 << 20, 9))).toBe(true);
      expect(await readFile(join(root, 'f'), 'utf8')).toBe('content');
    }
  });

  it('applies whiteouts and opaque directories as deletions in a plain directory', async () => {
    await mkdir(join(root, 'a'));
    await writeFile(join(root, 'a/keep'), '1');
    await writeFile(join(root, 'a/gone'), '2');
    await mkdir(join(root, 'b/x'), { recursive: true });
    await writeFile(join(root, 'b/x/y'), '3');
    await mkdir(join(root, 'opq/sub'), { recursive: true });
    await writeFile(join(root, 'opq/old'), '4');
    await writeFile(join(root, 'opq/sub/old'), '5');
    await symlink(outside, join(root, 'a/link-out'));
    await apply([
      { name: 'a/.wh.gone', type: 'file', data: '' },
      { name: 'a/.wh.link-out', type: 'file', data: '' },
      { name: '.wh.b', type: 'file', data: '' },
      { name: 'opq/', type: 'directory', mode: 0o755 },
      { name: 'opq/sub/', type: 'directory', mode: 0o755 },
      { name: 'opq/sub/new', type: 'file', data: 'n' },
      { name: 'opq/.wh..wh..opq', type: 'file', data: '' },
      { name: 'opq/after', type: 'file', data: 'a' },
    ]);
    expect(Object.keys(await treeSnapshot(root)).sort()).toEqual(['a', 'a/keep', 'opq', 'opq/after', 'opq/sub', 'opq/sub/new']);
    await outsideUntouched();
  });

  it('writes whiteouts and opaque directories in overlay form into an upper dir', async () => {
    await apply([
      { name: 'a/', type: 'directory', mode: 0o755 },
      { name: 'a/.wh.gone', type: 'file', uid: 3, gid: 4, data: '' },
      { name: '.wh.b', type: 'file', data: '' },
      { name: 'opq/', type: 'directory', mode: 0o755 },
      { name: 'opq/.wh..wh..opq', type: 'file', data: '' },
      { name: 'opq/new', type: 'file', data: 'n' },
    ], { whiteouts: 'overlay' });
    const tree = await treeSnapshot(root);
    expect(Object.keys(tree).sort()).toEqual(['a', 'a/gone', 'b', 'opq', 'opq/new']);
    expect(tree['a/gone']).toMatchObject({ type: 'char', rdev: 0, mode: 0, uid: 3, gid: 4 });
    expect(tree['b']).toMatchObject({ type: 'char', rdev: 0 });
    expect(tree['opq']!.xattrs).toEqual({ 'trusted.overlay.opaque': Buffer.from('y').toString('hex') });
  });

  it('gives directories a layer does not list the attributes they have in the lower layers', async () => {
    const lower = join(fs(), 'lower');
    await mkdir(join(lower, 'usr/lib'), { recursive: true, mode: 0o750 });
    await lsetxattr(join(lower, 'usr'), 'user.origin', Buffer.from('lower'));
    await lsetxattr(join(lower, 'usr'), 'trusted.overlay.opaque', Buffer.from('y'));
    execFileSync('chown', ['5:6', join(lower, 'usr')]);
    execFileSync('chmod', ['2750', join(lower, 'usr')]);
    await apply([{ name: 'usr/lib/libx.so', type: 'file', data: 'so' }, { name: 'opt/tool', type: 'file', data: 't' }], { whiteouts: 'overlay', parents: [lower] });
    const tree = await treeSnapshot(root);
    expect(tree['usr']).toMatchObject({ type: 'dir', mode: 0o2750, uid: 5, gid: 6, xattrs: { 'user.origin': Buffer.from('lower').toString('hex') } });
    expect(tree['usr/lib']).toMatchObject({ mode: 0o750, uid: 0 });
    expect(tree['opt']).toMatchObject({ type: 'dir', mode: 0o755, uid: 0, gid: 0 });
    expect(tree['opt']!.xattrs).toBeUndefined();
  });

  it('copies up the lower-layer target of a hard link into an upper dir, as overlayfs would', async () => {
    const lower = join(fs(), 'lower');
    await mkdir(join(lower, 'data/keep'), { recursive: true, mode: 0o750 });
    const big = Buffer.alloc(3 << 20, 'lower bytes ');
    await writeFile(join(lower, 'data/keep/a'), big);
    await lsetxattr(join(lower, 'data/keep/a'), 'user.origin', Buffer.from('lower'));
    execFileSync('chown', ['7:8', join(lower, 'data/keep/a')]);
    execFileSync('chmod', ['4751', join(lower, 'data/keep/a')]);
    execFileSync('touch', ['-h', '-d', '@1600000000.25', join(lower, 'data/keep/a')]);
    await apply([
      { name: 'data/', type: 'directory', mode: 0o755 },
      // A link's header carries its inode's mode, owner and times, which the extractor sets on it (as
      // containerd does).
      { name: 'data/hardlink-to-a', type: 'hardlink', linkname: 'data/keep/a', mode: 0o4751, uid: 7, gid: 8, mtime: NS_TIME },
    ], { whiteouts: 'overlay', parents: [lower] });
    const tree = await treeSnapshot(root);
    expect(tree['data/keep/a']).toMatchObject({ type: 'file', mode: 0o4751, uid: 7, gid: 8, sha256: createHash('sha256').update(big).digest('hex'), xattrs: { 'user.origin': Buffer.from('lower').toString('hex') } });
    expect(tree['data/keep']).toMatchObject({ type: 'dir', mode: 0o750 });
    const [a, link] = await Promise.all([lstat(join(root, 'data/keep/a')), lstat(join(root, 'data/hardlink-to-a'))]);
    expect(link.ino).toBe(a.ino);
    expect(a.nlink).toBe(2);
    expect(a.mtimeMs).toBe(1_600_000_000_250);
    // A target that is nowhere is still refused, as before.
    await rm(root, { recursive: true });
    await mkdir(root);
    await expect(apply([{ name: 'x', type: 'hardlink', linkname: 'data/missing' }], { whiteouts: 'overlay', parents: [lower] })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('replaces what is in the way and never writes through a symlink it replaces', async () => {
    await writeFile(join(root, 'becomes-dir'), 'file');
    await mkdir(join(root, 'becomes-file/deep'), { recursive: true });
    await symlink(join(outside, 'secret'), join(root, 'victim'));
    await apply([
      { name: 'becomes-dir/', type: 'directory', mode: 0o755 },
      { name: 'becomes-dir/inner', type: 'file', data: 'i' },
      { name: 'becomes-file', type: 'file', data: 'f' },
      { name: 'victim', type: 'file', mode: 0o777, data: 'pwned' },
    ]);
    const tree = await treeSnapshot(root);
    expect(tree['becomes-dir']!.type).toBe('dir');
    expect(tree['becomes-file']).toMatchObject({ type: 'file', size: 1 });
    expect(tree['victim']).toMatchObject({ type: 'file', size: 5 });
    await outsideUntouched();
  });

  describe('refuses layers that reach outside the root', () => {
    const cases: [string, () => TestEntry[]][] = [
      ['a name climbing out', () => [{ name: '../outside/pwn', type: 'file', data: 'x' }]],
      ['a name climbing out after going down', () => [{ name: 'a/../../outside/pwn', type: 'file', data: 'x' }]],
      ['an absolute name', () => [{ name: `${outside}/pwn`, type: 'file', data: 'x' }]],
      ['a symlinked parent leading out', () => [
        { name: 'evil', type: 'symlink', linkname: '../outside' },
        { name: 'evil/pwn', type: 'file', data: 'x' },
      ]],
      ['a symlink chain leading out', () => [
        { name: 'one', type: 'symlink', linkname: 'two/..' },
        { name: 'two', type: 'symlink', linkname: 'd/../..' },
        { name: 'd/', type: 'directory', mode: 0o755 },
        { name: 'one/outside/pwn', type: 'file', data: 'x' },
      ]],
      ['a whiteout under a symlink leading out', () => [
        { name: 'evil', type: 'symlink', linkname: '../outside' },
        { name: 'evil/.wh.secret', type: 'file', data: '' },
      ]],
      ['a hardlink to a file outside', () => [{ name: 'h', type: 'hardlink', linkname: '../outside/secret' }]],
      ['an absolute hardlink target', () => [{ name: 'h', type: 'hardlink', linkname: `${outside}/secret` }]],
      ['a hardlink through a symlink leading out', () => [
        { name: 'evil', type: 'symlink', linkname: '../outside' },
        { name: 'h', type: 'hardlink', linkname: 'evil/secret' },
      ]],
      ['an invalid whiteout', () => [{ name: 'a/.wh..', type: 'file', data: '' }]],
    ];
    for (const [what, entries] of cases) {
      for (const whiteouts of ['plain', 'overlay'] as const) {
        it(`${what} (${whiteouts})`, async () => {
          const list = entries();
          const err = await refusal(list, { whiteouts });
          expect(err).toBeInstanceOf(InvalidArgumentError);
          // The message names the offending entry (the last of each case).
          expect(err.message).toContain(`layer entry ${JSON.stringify(list[list.length - 1]!.name)}`);
          expect(err.message).toMatch(/escapes|absolute|outside|whiteout/);
          await outsideUntouched();
        });
      }
    }

    it('a symlink already in the tree leading out', async () => {
      await symlink('../../outside', join(root, 'pre'));
      const err = await refusal([{ name: 'pre/pwn', type: 'file', data: 'x' }]);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      await outsideUntouched();
    });

    it('but follows absolute symlinks inside the image, as the container sees them', async () => {
      await mkdir(join(root, 'run'));
      await apply([
        { name: 'var/', type: 'directory', mode: 0o755 },
        { name: 'var/run', type: 'symlink', linkname: '/run' },
        { name: 'var/run/pidfile', type: 'file', data: '1' },
        { name: 'escape', type: 'symlink', linkname: outside },
        { name: 'escape/pwn', type: 'file', data: 'x' },
      ]);
      expect(await readFile(join(root, 'run/pidfile'), 'utf8')).toBe('1');
      expect(await readFile(join(root, outside, 'pwn'), 'utf8')).toBe('x');
      await outsideUntouched();
    });

    it('device nodes when they are not allowed', async () => {
      const err = await refusal([{ name: 'sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660 }], { allowDevices: false });
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err.message).toMatch(/device nodes are not allowed/);
      expect(await readdir(root)).toEqual([]);
      await apply([{ name: 'fifo', type: 'fifo', mode: 0o600 }], { allowDevices: false });
      expect((await lstat(join(root, 'fifo'))).isFIFO()).toBe(true);
    });
  });

  it('refuses a corrupt layer', async () => {
    const gz = gzipSync(await tarOf([{ name: 'f', type: 'file', data: Buffer.alloc(100_000, 1) }]));
    const err = await (async () => {
      try {
        await applyLayer(chunks(gz.subarray(0, gz.length - 30), 4096), root);
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a failure');
    })();
    expect(err).toBeInstanceOf(InvalidArgumentError);
  });

  it('checks that the overlay form works as overlayfs reads it', async () => {
    // Lower layer, then an upper written by applyLayer, mounted: the merged view is what a container sees.
    const lower = join(fs(), 'lower');
    await mkdir(join(lower, 'etc/opq'), { recursive: true });
    await writeFile(join(lower, 'etc/hosts'), 'old');
    await writeFile(join(lower, 'etc/opq/hidden'), 'h');
    await writeFile(join(lower, 'gone'), 'g');
    await apply([
      { name: 'etc/', type: 'directory', mode: 0o755 },
      { name: 'etc/.wh.hosts', type: 'file', data: '' },
      { name: 'etc/opq/', type: 'directory', mode: 0o755 },
      { name: 'etc/opq/.wh..wh..opq', type: 'file', data: '' },
      { name: 'etc/opq/shown', type: 'file', data: 's' },
      { name: '.wh.gone', type: 'file', data: '' },
    ], { whiteouts: 'overlay', parents: [lower] });
    const merged = join(fs(), 'merged');
    const work = join(fs(), 'work');
    await mkdir(merged);
    await mkdir(work);
    const { mountOverlay, umount2 } = await import('@flotilla/native');
    await mountOverlay(merged, { lowerdirs: [lower], upperdir: root, workdir: work });
    try {
      expect(Object.keys(await treeSnapshot(merged)).sort()).toEqual(['etc', 'etc/opq', 'etc/opq/shown']);
    } finally {
      await umount2(merged);
      await rm(merged, { recursive: true });
      await rm(work, { recursive: true });
    }
    expect((await lgetxattr(join(root, 'etc/opq'), 'trusted.overlay.opaque')).toString()).toBe('y');
  });
});
