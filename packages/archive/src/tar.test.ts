import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, symlinkSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { lsetxattr } from '@flotilla/native';
import type { TarHeader } from './tar-header.js';
import { createTarReader } from './tar-reader.js';
import { createTarWriter } from './tar-writer.js';
import { chunks, rejection, tarOf, type TestEntry } from './test-support.js';

interface ReadEntry {
  header: TarHeader;
  data: Buffer;
}

async function readAll(source: AsyncIterable<Uint8Array>): Promise<ReadEntry[]> {
  const r = createTarReader(source);
  const out: ReadEntry[] = [];
  for (let h = await r.next(); h !== undefined; h = await r.next()) {
    const parts: Buffer[] = [];
    for (let b = await r.read(); b !== undefined; b = await r.read()) parts.push(Buffer.from(b));
    out.push({ header: h, data: Buffer.concat(parts) });
  }
  await r.drain();
  return out;
}

const failure = (p: Promise<unknown>) => rejection<Error>(p);

const longDir = 'd'.repeat(120);
const entries: TestEntry[] = [
  { name: 'dir/', type: 'directory', mode: 0o755, mtime: { sec: 1_700_000_000, nsec: 0 } },
  { name: 'dir/file', type: 'file', mode: 0o4755, uid: 1000, gid: 2000, data: 'hello', mtime: { sec: 1_700_000_001, nsec: 0 } },
  // 100 < length <= 255 with a '/' where USTAR can split it: prefix field, no PAX.
  { name: `${longDir}/${'f'.repeat(90)}`, type: 'file', data: 'prefix' },
  // Too long for USTAR: a PAX path record.
  { name: `${'x'.repeat(300)}/end`, type: 'file', data: 'pax' },
  { name: 'ünïcödé', type: 'file', data: 'utf8 name' },
  { name: 'link', type: 'symlink', linkname: `/${'t'.repeat(150)}` },
  { name: 'hard', type: 'hardlink', linkname: 'dir/file' },
  { name: 'bigid', type: 'file', uid: 3_000_000, gid: 70_000_000, data: '' },
  { name: 'ns', type: 'file', mtime: { sec: 1_600_000_000, nsec: 123_456_789 }, data: 'x' },
  { name: 'caps', type: 'file', xattrs: new Map([['security.capability', Buffer.from([1, 0, 0, 2, 0, 0xff, 0])], ['user.a', Buffer.from('b=c\n')]]), data: 'c' },
  { name: 'null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
  { name: 'fifo', type: 'fifo', mode: 0o600 },
  { name: 'big', type: 'file', data: Buffer.alloc(70_003, 0xa5) },
];

describe('tar reader and writer', () => {
  it('round-trip every kind of entry, in any chunking', async () => {
    const tar = await tarOf(entries);
    expect(tar.length % 512).toBe(0);
    for (const size of [tar.length, 65_536, 512, 511, 7, 1]) {
      const got = await readAll(chunks(tar, size));
      expect(got.map((e) => e.header.name)).toEqual(entries.map((e) => e.name));
      for (const [i, e] of entries.entries()) {
        const { header, data } = got[i]!;
        expect(header.type).toBe(e.type);
        expect(header.mode).toBe(e.mode ?? 0);
        expect([header.uid, header.gid]).toEqual([e.uid ?? 0, e.gid ?? 0]);
        expect(header.mtime).toEqual(e.mtime ?? { sec: 0, nsec: 0 });
        expect(header.linkname).toBe(e.linkname ?? '');
        expect(data.equals(Buffer.from(e.data ?? ''))).toBe(true);
        expect(header.xattrs).toEqual(e.xattrs ?? new Map());
        if (e.type === 'char') expect([header.devmajor, header.devminor]).toEqual([1, 3]);
      }
    }
  });

  it('writes PAX headers only when USTAR cannot hold the entry', async () => {
    const plain = await tarOf([{ name: `${longDir}/${'f'.repeat(90)}`, type: 'file', uid: 2_097_151, data: 'x' }]);
    expect(plain.length).toBe(512 + 512 + 1024);
    expect(plain.subarray(345, 345 + 120).toString()).toBe(longDir);
    const pax = await tarOf([{ name: 'ünï', type: 'file', data: 'x' }]);
    expect(pax[156]).toBe('x'.charCodeAt(0));
    expect(pax.subarray(512, 1024).includes(Buffer.from(' path=ünï\n'))).toBe(true);
  });

  it('writes archives GNU tar reads, xattrs included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tar-gnu-'));
    try {
      const tarPath = join(dir, 'a.tar');
      writeFileSync(tarPath, await tarOf(entries.filter((e) => e.type !== 'char' && e.type !== 'hardlink')));
      const listing = execFileSync('tar', ['-tf', tarPath], { encoding: 'utf8' }).split('\n');
      expect(listing).toContain(`${'x'.repeat(300)}/end`);
      expect(listing).toContain('ünïcödé');
      expect(listing).toContain(`${longDir}/${'f'.repeat(90)}`);
      const verbose = execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-tvvf', tarPath], { encoding: 'utf8' });
      expect(verbose).toMatch(/ 3000000\/70000000 .* bigid/);
      expect(verbose).toMatch(/x: \d+ user\.a/);
      expect(execFileSync('tar', ['-xOf', tarPath, 'big']).length).toBe(70_003);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads what GNU tar writes: GNU long names, PAX xattrs and times, star and ustar', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tar-gnu-'));
    try {
      const src = join(dir, 'src');
      const long = `${'n'.repeat(150)}/${'m'.repeat(140)}`;
      mkdirSync(join(src, long), { recursive: true });
      writeFileSync(join(src, long, 'f'), 'deep');
      symlinkSync('x'.repeat(200), join(src, 'longlink'));
      writeFileSync(join(src, 'attr'), 'a');
      await lsetxattr(join(src, 'attr'), 'user.k', Buffer.from('v1'));
      for (const format of ['gnu', 'posix']) {
        const tarPath = join(dir, `${format}.tar`);
        execFileSync('tar', [`--format=${format}`, '--xattrs', '--xattrs-include=user.*', '-C', src, '-cf', tarPath, '.']);
        const got = await readAll(chunks(readFileSync(tarPath), 1000));
        const byName = new Map(got.map((e) => [e.header.name.replace(/^\.\//, ''), e]));
        expect(byName.get(`${long}/f`)?.data.toString()).toBe('deep');
        expect(byName.get('longlink')?.header.linkname).toBe('x'.repeat(200));
        if (format === 'posix') {
          expect(Buffer.from(byName.get('attr')!.header.xattrs.get('user.k')!).toString()).toBe('v1');
          expect(byName.get('attr')!.header.mtime.nsec).toBeGreaterThanOrEqual(0);
          expect(byName.get('attr')!.header.atime).toBeDefined();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads legacy and base-256 fields', async () => {
    const tar = await tarOf([{ name: 'old/', type: 'file', data: '' }, { name: 'n', type: 'file', data: 'z' }]);
    // V7 regular-file typeflag NUL with a trailing slash: a directory.
    tar[156] = 0;
    fixChecksum(tar, 0);
    // uid as GNU base-256.
    tar.fill(0, 512 + 108, 512 + 116);
    tar[512 + 108] = 0x80;
    tar.writeUInt32BE(5_000_000_000 % 2 ** 32, 512 + 112);
    tar[512 + 111] = 1;
    fixChecksum(tar, 512);
    const got = await readAll(chunks(tar, 512));
    expect(got[0]!.header.type).toBe('directory');
    expect(got[1]!.header.uid).toBe(5_000_000_000);
  });

  it('refuses corrupt archives with InvalidArgument', async () => {
    const tar = await tarOf([{ name: 'a', type: 'file', data: 'hello world' }, { name: 'b', type: 'file', data: 'x' }]);
    const badSum = Buffer.from(tar);
    badSum[0] = 0x41;
    const e1 = await failure(readAll(chunks(badSum, 100)));
    expect(e1).toBeInstanceOf(InvalidArgumentError);
    expect(e1.message).toMatch(/checksum/);
    const truncated = await failure(readAll(chunks(tar.subarray(0, 520), 100)));
    expect(truncated).toBeInstanceOf(InvalidArgumentError);
    expect(truncated.message).toMatch(/unexpected end/);
    const zeroThenData = Buffer.concat([Buffer.alloc(512), tar]);
    expect((await failure(readAll(chunks(zeroThenData, 512)))).message).toMatch(/zero block followed by data/);
  });

  it('hands out file data without copying, and drains what follows the archive', async () => {
    const tar = await tarOf([{ name: 'a', type: 'file', data: 'abc' }]);
    const trailing = Buffer.concat([tar, Buffer.alloc(4096, 1)]);
    let pulled = 0;
    const source = (async function* () {
      for await (const c of chunks(trailing, 1024)) {
        pulled += c.length;
        yield c;
      }
    })();
    const r = createTarReader(source);
    await r.next();
    const view = await r.read();
    expect(view!.buffer).toBe(trailing.buffer);
    expect(await r.next()).toBeUndefined();
    expect(pulled).toBeLessThan(trailing.length);
    await r.drain();
    expect(pulled).toBe(trailing.length);
  });

  it('checks sizes when writing', async () => {
    const w = createTarWriter(() => {});
    await w.writeHeader({ name: 'a', type: 'file', size: 3 });
    await expect(w.write(Buffer.from('abcd'))).rejects.toBeInstanceOf(InvalidArgumentError);
    await w.write(Buffer.from('ab'));
    await expect(w.writeHeader({ name: 'b', type: 'file' })).rejects.toThrow(/1 bytes of the previous entry missing/);
  });
});

function fixChecksum(b: Buffer, off: number): void {
  b.fill(0x20, off + 148, off + 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[off + i]!;
  b.write(sum.toString(8).padStart(6, '0'), off + 148, 'latin1');
  b[off + 154] = 0;
}
