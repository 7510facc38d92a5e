import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { compressInto, decompress, detectCompression, type Compression } from './compression.js';
import { chunks, rejection } from './test-support.js';

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(Buffer.from(c));
  return Buffer.concat(out);
}

const failure = (p: Promise<unknown>) => rejection<Error>(p);

const payload = Buffer.concat([randomBytes(300_000), Buffer.alloc(700_000, 'layer ')]);
const zstd = (b: Buffer, ...args: string[]) => execFileSync('zstd', ['-q', '-c', ...args], { input: b, maxBuffer: 64 << 20 });

describe('compression', () => {
  it('detects by magic number', () => {
    expect(detectCompression(gzipSync(Buffer.from('x')))).toBe('gzip');
    expect(detectCompression(zstd(Buffer.from('x')))).toBe('zstd');
    expect(detectCompression(Buffer.from([0x5e, 0x2a, 0x4d, 0x18, 0, 0, 0, 0]))).toBe('zstd');
    expect(detectCompression(Buffer.from('ustar'))).toBe('none');
    expect(detectCompression(Buffer.from([0x1f, 0x8b]))).toBe('none');
    expect(detectCompression(Buffer.alloc(0))).toBe('none');
  });

  it('decompresses gzip (several members too), zstd from the zstd tool, and passes plain data through', async () => {
    const cases: [Compression, Buffer, Buffer][] = [
      ['gzip', gzipSync(payload), payload],
      ['gzip', Buffer.concat([gzipSync(payload.subarray(0, 1000)), gzipSync(payload.subarray(1000))]), payload],
      ['zstd', zstd(payload, '-5'), payload],
      ['zstd', zstd(payload, '--long=27', '-T2'), payload],
      ['none', payload, payload],
      ['none', Buffer.alloc(0), Buffer.alloc(0)],
      ['none', Buffer.from('abc'), Buffer.from('abc')],
      ['gzip', gzipSync(Buffer.from('tiny')), Buffer.from('tiny')],
      ['zstd', zstd(Buffer.from('tiny')), Buffer.from('tiny')],
    ];
    for (const [want, input, expected] of cases) {
      // Tiny chunks make detection wait for its bytes; big inputs only in big chunks, to stay quick.
      for (const size of input.length > 10_000 ? [4096, 65_537, input.length] : [1, 3, 4096]) {
        let detected: Compression | undefined;
        const out = await collect(decompress(chunks(input, size), { onDetect: (c) => { detected = c; } }));
        expect(detected).toBe(want);
        expect(out.equals(expected)).toBe(true);
      }
    }
  });

  it('refuses corrupt and truncated input with InvalidArgument', async () => {
    const gz = gzipSync(payload);
    const bad = Buffer.from(gz);
    bad.fill(0xff, 100, 400);
    expect(await failure(collect(decompress(chunks(bad, 4096))))).toBeInstanceOf(InvalidArgumentError);
    expect(await failure(collect(decompress(chunks(gz.subarray(0, gz.length - 20), 4096))))).toBeInstanceOf(InvalidArgumentError);
    const zs = zstd(payload);
    const cut = await failure(collect(decompress(chunks(zs.subarray(0, zs.length - 20), 4096))));
    expect(cut).toBeInstanceOf(InvalidArgumentError);
    expect(cut.message).toMatch(/zstd layer: .*truncated/);
  });

  it('inflates a small gzip layer that comes whole in one call, and anything bigger as a stream', async () => {
    const pieces = async (it: AsyncIterable<Uint8Array>) => { const out: Buffer[] = []; for await (const c of it) out.push(Buffer.from(c)); return out; };
    // Compressible: 3 MiB of output from a few KiB of input.
    const text = Buffer.alloc(3 << 20, 'small layer ');
    const gz = gzipSync(text);
    expect(gz.length).toBeLessThan(64 << 10);
    const whole = await pieces(decompress(chunks(gz, gz.length)));
    expect(whole.length).toBe(1);
    expect(whole[0]!.equals(text)).toBe(true);
    // The same bytes in several chunks: a stream, in pieces of its output chunk size.
    const streamed = await pieces(decompress(chunks(gz, 1024)));
    expect(streamed.length).toBeGreaterThan(1);
    expect(Buffer.concat(streamed).equals(text)).toBe(true);
    // Output past the limit (a bomb, or just very compressible) goes through the stream after all.
    const big = Buffer.alloc(40 << 20, 0);
    const bomb = gzipSync(big);
    expect(bomb.length).toBeLessThan(64 << 10);
    const out = await pieces(decompress(chunks(bomb, bomb.length)));
    expect(out.length).toBeGreaterThan(1);
    expect(Buffer.concat(out).equals(big)).toBe(true);
    // Corrupt and truncated whole layers are refused the same way.
    const bad = Buffer.from(gz);
    bad.fill(0xff, 20, 200);
    expect(await failure(collect(decompress(chunks(bad, bad.length))))).toBeInstanceOf(InvalidArgumentError);
    expect(await failure(collect(decompress(chunks(gz.subarray(0, gz.length - 5), gz.length))))).toBeInstanceOf(InvalidArgumentError);
  });

  it('passes on the source\'s own errors unchanged', async () => {
    const boom = new Error('network went away');
    const source = (async function* () {
      yield gzipSync(payload).subarray(0, 5000);
      throw boom;
    })();
    expect(await failure(collect(decompress(source)))).toBe(boom);
  });

  it('compresses into a sink that the matching decompressor (and the tools) read back', async () => {
    for (const c of ['gzip', 'zstd', 'none'] as const) {
      const out: Buffer[] = [];
      const sink = compressInto(c, async (b) => { out.push(Buffer.from(b)); });
      for await (const piece of chunks(payload, 100_000)) await sink.write(Buffer.from(piece));
      await sink.end();
      const compressed = Buffer.concat(out);
      expect(detectCompression(compressed)).toBe(c);
      expect((await collect(decompress(chunks(compressed, 65_536)))).equals(payload)).toBe(true);
      if (c === 'gzip') expect(execFileSync('gzip', ['-dc'], { input: compressed, maxBuffer: 64 << 20 }).equals(payload)).toBe(true);
      if (c === 'zstd') expect(execFileSync('zstd', ['-dc'], { input: compressed, maxBuffer: 64 << 20 }).equals(payload)).toBe(true);
    }
  });

  it('stops compressing when the sink fails', async () => {
    const sink = compressInto('gzip', async () => { throw new Error('disk full'); });
    const err = await failure((async () => {
      for (let i = 0; i < 50; i++) await sink.write(randomBytes(256 * 1024));
      await sink.end();
    })());
    expect(err.message).toBe('disk full');
  });
});
