import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { zstdCompressor, zstdDecompressor, zstdTransform, ZSTD } from '../index.js';
import type { ZstdStream } from '../index.js';
import { rejection } from './test-support.js';

/** Feed `input` in pieces of `step` bytes, then end; the output joined. */
async function run(stream: ZstdStream, input: Uint8Array, step: number): Promise<Buffer> {
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i += step) out.push(...(await zstdTransform(stream, input.subarray(i, i + step), false)));
  out.push(...(await zstdTransform(stream, new Uint8Array(0), true)));
  return Buffer.concat(out);
}

/** Half random, half repetitive: compressible, but not to nothing. */
function sample(size: number): Buffer {
  const b = Buffer.alloc(size, 'flotilla layer ');
  randomBytes(size >> 1).copy(b, 0);
  return b;
}

function zstdCli(input: Uint8Array, ...args: string[]): Buffer {
  return execFileSync('zstd', ['-q', '-c', ...args], { input, maxBuffer: 64 << 20 });
}

describe('zstd streams', () => {
  it('round-trips through its own compressor, in any chunking', async () => {
    // 3 MiB is six whole output chunks: the decoder's last chunk fills exactly, and the end must still be
    // recognised as a frame boundary.
    const input = sample(3 << 20);
    const compressed = await run(zstdCompressor(), input, 1 << 20);
    expect(compressed.length).toBeLessThan(input.length);
    expect((await run(zstdDecompressor(), compressed, 7_001)).equals(input)).toBe(true);
    expect((await run(zstdDecompressor(), compressed, compressed.length)).equals(input)).toBe(true);
  });

  it('decompresses what the zstd tool writes, and the tool reads what it writes', async () => {
    const input = sample(2 << 20);
    expect((await run(zstdDecompressor(), zstdCli(input, '-12'), 65_536)).equals(input)).toBe(true);
    const ours = await run(zstdCompressor(ZSTD.ZSTD_MAX_CLEVEL), input, 1 << 20);
    expect(execFileSync('zstd', ['-q', '-d', '-c'], { input: ours, maxBuffer: 64 << 20 }).equals(input)).toBe(true);
  });

  it('reads concatenated frames and skips skippable frames', async () => {
    const a = Buffer.from('first frame ');
    const b = Buffer.from('second frame');
    // A skippable frame: magic 0x184D2A5x, a 4-byte length, that many bytes.
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0]), Buffer.from('xyz')]);
    const stream = Buffer.concat([zstdCli(a), skippable, zstdCli(b)]);
    expect((await run(zstdDecompressor(), stream, 5)).toString()).toBe('first frame second frame');
  });

  it('rejects a truncated stream at its end and garbage at once', async () => {
    const compressed = zstdCli(sample(100_000));
    const truncated = await rejection(run(zstdDecompressor(), compressed.subarray(0, compressed.length - 10), 4096));
    expect(truncated.code).toBe('ERR_ZSTD');
    expect(truncated.message).toMatch(/truncated/);
    const garbage = Buffer.from(compressed);
    garbage.fill(0x55, 20, 200);
    const corrupt = await rejection(run(zstdDecompressor(), garbage, 4096));
    expect(corrupt.code).toBe('ERR_ZSTD');
    // Not even a frame: nothing was ever complete.
    expect((await rejection(zstdTransform(zstdDecompressor(), new Uint8Array(0), true))).code).toBe('ERR_ZSTD');
  });

  it('allows one call at a time and none after the end', async () => {
    const stream = zstdCompressor();
    const first = zstdTransform(stream, sample(1 << 20), false);
    expect((await rejection(zstdTransform(stream, Buffer.from('x'), false))).code).toBe('ERR_INVALID_STATE');
    await first;
    await zstdTransform(stream, Buffer.alloc(0), true);
    expect((await rejection(zstdTransform(stream, Buffer.from('x'), false))).code).toBe('ERR_INVALID_STATE');
  });

  it('checks its arguments', async () => {
    expect((await rejection(zstdTransform({} as ZstdStream, Buffer.alloc(0), true))).code).toBe('ERR_INVALID_ARG_TYPE');
    expect((await rejection(zstdTransform(zstdDecompressor(), 'x' as unknown as Buffer, true))).code).toBe('ERR_INVALID_ARG_TYPE');
    expect((await rejection(zstdTransform(zstdDecompressor(), Buffer.alloc(0), 1 as unknown as boolean))).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(() => zstdCompressor(ZSTD.ZSTD_MAX_CLEVEL + 1)).toThrow(TypeError);
    expect(() => zstdCompressor(1.5)).toThrow(TypeError);
    expect(ZSTD.ZSTD_CLEVEL_DEFAULT).toBe(3);
  });
});
