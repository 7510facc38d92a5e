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
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads a blob the directory holds, in chunks, without asking the service', async () => {
    const chunks: number[] = [];
    for await (const c of readBlobFile(dir, 'sha256:aa', fallback)) chunks.push(c.length);
    expect(chunks).toEqual([1 << 20, 1 << 20, 512 * 1024]);
    expect(asked).toEqual([]);
  });

  it('asks the service for a blob the directory does not hold', async () => {
    expect((await collect(readBlobFile(dir, 'sha256:bb', fallback))).toString()).toBe('from the service');
    expect((await collect(readBlobFile(join(dir, 'missing'), 'sha512:aa', fallback))).toString()).toBe('from the service');
    expect(asked).toEqual(['sha256:bb', 'sha512:aa']);
  });
});
