import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBlobFile, type BlobSource } from './blob-files.js';

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(Buffer.from(c));
  return Buffer.concat(out);
}

describe('readBlobFile', () => {
  let dir = '';
  const asked: string[] = [];
  const fallback: BlobSource = {
    async *read(digest) {
      asked.push(digest);
      yield Buffer.from('from the service');
    },
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'blob-files-'));
    await mkdir(join(dir, 'blobs/sha256'), { recursive: true });
    await writeFile(join(dir, 'blobs/sha256/aa'), Buffer.alloc(2.5 * 1024 * 1024, 7));
    await writeFile(join(dir, 'blobs/sha256/cc'), 'a small blob');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads a blob the directory holds, in chunks, without asking the service', async () => {
    const chunks: number[] = [];
    for await (const c of readBlobFile(dir, 'sha256:aa', fallback)) chunks.push(c.length);
    expect(chunks).toEqual([1 << 20, 1 << 20, 512 * 1024]);
    expect(asked).toEqual([]);
  });

  it('sizes its reads by the size it is told, and still reads to the end', async () => {
    const size = 2.5 * 1024 * 1024;
    const told = async (n: number) => {
      const chunks: number[] = [];
      for await (const c of readBlobFile(dir, 'sha256:aa', fallback, n)) chunks.push(c.length);
      return chunks;
    };
    expect(await told(size)).toEqual([1 << 20, 1 << 20, 512 * 1024]);
    // A size that is wrong only costs more reads.
    expect((await told(size - 100 * 1024)).reduce((a, b) => a + b)).toBe(size);
    expect((await told(100 * 1024)).reduce((a, b) => a + b)).toBe(size);
    expect(asked).toEqual([]);
  });

  it('reads a small blob in one piece', async () => {
    const chunks: string[] = [];
    for await (const c of readBlobFile(dir, 'sha256:cc', fallback, 12)) chunks.push(Buffer.from(c).toString());
    expect(chunks).toEqual(['a small blob']);
    // Even when the size it is told is too small.
    expect((await collect(readBlobFile(dir, 'sha256:aa', fallback, 10))).length).toBe(2.5 * 1024 * 1024);
    expect(asked).toEqual([]);
  });

  it('asks the service for a blob the directory does not hold', async () => {
    expect((await collect(readBlobFile(dir, 'sha256:bb', fallback))).toString()).toBe('from the service');
    expect((await collect(readBlobFile(join(dir, 'missing'), 'sha512:aa', fallback))).toString()).toBe('from the service');
    expect((await collect(readBlobFile(dir, 'sha256:dd', fallback, 12))).toString()).toBe('from the service');
    expect(asked).toEqual(['sha256:bb', 'sha512:aa', 'sha256:dd']);
  });
});
