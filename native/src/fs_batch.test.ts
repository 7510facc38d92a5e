import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { constants, existsSync, fstatSync, closeSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fsBatch } from '../index.js';
import { rejection } from './test-support.js';

describe('fsBatch', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'flotilla-batch-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('runs every op in order and reports what open and fstat found', async () => {
    const d = join(dir, 'ingest');
    const results = await fsBatch([
      { op: 'mkdir', path: d, mode: 0o755 },
      { op: 'writeFile', path: join(d, 'ref'), data: 'layer-ü\0x', mode: 0o644 },
      { op: 'writeFile', path: join(d, 'startedat'), tmp: join(d, 'startedat.tmp'), data: '2026-01-02T03:04:05.678Z', mode: 0o600, sync: true },
      { op: 'open', path: join(d, 'data'), flags: constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode: 0o640 },
    ]);
    expect(results.slice(0, 3)).toEqual([{}, {}, {}]);
    const fd = results[3]!.fd!;
    expect(fd).toBeGreaterThan(2);
    writeSync(fd, 'abcdef');
    expect(readFileSync(join(d, 'ref'), 'utf8')).toBe('layer-ü\0x');
    expect(readFileSync(join(d, 'startedat'), 'utf8')).toBe('2026-01-02T03:04:05.678Z');
    // The temporary was renamed over the target, nothing is left of it.
    expect(readdirSync(d).sort()).toEqual(['data', 'ref', 'startedat']);
    expect(statSync(d).mode & 0o777).toBe(0o755 & ~process.umask());
    expect(statSync(join(d, 'startedat')).mode & 0o777).toBe(0o600);
    // The descriptor is close-on-exec, as Node's own are.
    const flags = Number.parseInt(/flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
    expect(flags & 0o2000000).toBe(0o2000000);

    const target = join(dir, 'blob');
    const [synced, stat, closed, linked, timed, moded, unlinked] = await fsBatch([
      { op: 'fsync', fd },
      { op: 'fstat', fd },
      { op: 'close', fd },
      { op: 'link', from: join(d, 'data'), to: target },
      { op: 'utimes', path: target, timeMs: 1_700_000_000_123.5 },
      { op: 'chmod', path: target, mode: 0o444 },
      { op: 'unlink', path: join(d, 'data') },
    ]);
    expect([synced, closed, linked, timed, moded, unlinked]).toEqual([{}, {}, {}, {}, {}, {}]);
    expect(stat).toMatchObject({ size: 6 });
    expect(stat!.mode! & 0o777).toBe(0o640 & ~process.umask());
    expect(() => fstatSync(fd)).toThrow(/EBADF/);
    const st = statSync(target);
    expect(st.mode & 0o777).toBe(0o444);
    expect(st.mtimeMs).toBeCloseTo(1_700_000_000_123.5, 3);
    expect(st.atimeMs).toBeCloseTo(1_700_000_000_123.5, 3);
    expect(readFileSync(target, 'utf8')).toBe('abcdef');
    expect(existsSync(join(d, 'data'))).toBe(false);
  });

  it('stops at a failure, reporting it as a Node-style error, unless the op is optional', async () => {
    writeFileSync(join(dir, 'there'), 'x');
    const results = await fsBatch([
      { op: 'unlink', path: join(dir, 'missing'), optional: true },
      { op: 'mkdir', path: join(dir, 'there'), mode: 0o755 },
      { op: 'mkdir', path: join(dir, 'never'), mode: 0o755 },
    ]);
    expect(results[0]!.error).toMatchObject({ code: 'ENOENT', syscall: 'unlink', path: join(dir, 'missing') });
    expect(results[1]!.error).toMatchObject({ code: 'EEXIST', syscall: 'mkdir', path: join(dir, 'there'), errno: -17 });
    expect(results[1]!.error).toBeInstanceOf(Error);
    expect(results[2]).toEqual({ skipped: true });
    expect(existsSync(join(dir, 'never'))).toBe(false);

    const [link] = await fsBatch([{ op: 'link', from: join(dir, 'there'), to: join(dir, 'there') }]);
    expect(link!.error).toMatchObject({ code: 'EEXIST', syscall: 'link', path: join(dir, 'there') });
    const [bad] = await fsBatch([{ op: 'close', fd: 1_000_000 }]);
    expect(bad!.error).toMatchObject({ code: 'EBADF', syscall: 'close' });
    const [nonEmpty] = await fsBatch([{ op: 'rmdir', path: dir }]);
    expect(nonEmpty!.error).toMatchObject({ code: 'ENOTEMPTY', syscall: 'rmdir' });
  });

  it('rejects malformed ops before running any', async () => {
    const e = await rejection<Error & { code?: string }>(fsBatch([
      { op: 'mkdir', path: join(dir, 'a'), mode: 0o755 },
      { op: 'explode', path: dir } as never,
    ]));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(existsSync(join(dir, 'a'))).toBe(false);
    await expect(fsBatch('nope' as never)).rejects.toThrow(TypeError);
    await expect(fsBatch([{ op: 'unlink', path: 'a\0b' }])).rejects.toThrow(TypeError);
    await expect(fsBatch([{ op: 'utimes', path: dir, timeMs: Number.NaN }])).rejects.toThrow(TypeError);
    expect(await fsBatch([])).toEqual([]);
  });

  it('leaves a descriptor it opened to the caller when a later op fails', async () => {
    const [opened, failed] = await fsBatch([
      { op: 'open', path: join(dir, 'f'), flags: constants.O_RDWR | constants.O_CREAT, mode: 0o600 },
      { op: 'rmdir', path: join(dir, 'f') },
    ]);
    expect(failed!.error).toMatchObject({ code: 'ENOTDIR' });
    expect(fstatSync(opened!.fd!).isFile()).toBe(true);
    closeSync(opened!.fd!);
  });
});
