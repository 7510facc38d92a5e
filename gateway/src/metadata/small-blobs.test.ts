import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@flotilla/log';
import { createLocalStore, type ContentStore, type LocalContentStore, type ReadOptions } from '@flotilla/service-content';
import { createSmallBlobCache, SMALL_BLOB_BYTES } from './small-blobs.js';

const log = createLogger({ service: 'test', level: 'silent' });

let dir: string;
let local: LocalContentStore;
let backendReads: number;
let backend: ContentStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'small-blobs-'));
  local = await createLocalStore({ root: join(dir, 'content'), log });
  backendReads = 0;
  backend = { ...local, read: (d: string, o?: ReadOptions) => { backendReads++; return local.read(d, o); } };
});
afterEach(() => {
  local.close();
  rmSync(dir, { recursive: true, force: true });
});

async function put(bytes: Buffer): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const w = await local.writer({ ref: digest, total: bytes.length, expected: digest });
  await w.write(bytes);
  await w.commit(bytes.length, digest);
  return digest;
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

async function outcome(p: Promise<Buffer>): Promise<string> {
  return p.then((b) => b.toString('hex'), (e: unknown) => `error ${(e as Error).constructor.name}`);
}

describe('small blob cache', () => {
  it('reads a small blob from the backend once, and answers every range as the backend does', async () => {
    const bytes = randomBytes(1000);
    const d = await put(bytes);
    const cache = createSmallBlobCache();
    expect(await collect(cache.read(backend, d, bytes.length))).toEqual(bytes);
    expect(backendReads).toBe(1);
    const ranges: ReadOptions[] = [{}, { offset: 0 }, { offset: 10 }, { offset: 999 }, { offset: 10, size: 5 }, { offset: 990, size: 50 }, { size: 1 }];
    for (const r of ranges) {
      const before = backendReads;
      const fromCache = await outcome(collect(cache.read(backend, d, bytes.length, r)));
      expect(backendReads, JSON.stringify(r)).toBe(before);
      expect(fromCache, JSON.stringify(r)).toBe(await outcome(collect(local.read(d, r))));
    }
    // Past the end: the backend's own answer, whatever it is.
    for (const r of [{ offset: 1000 }, { offset: 5000, size: 1 }]) {
      expect(await outcome(collect(cache.read(backend, d, bytes.length, r)))).toBe(await outcome(collect(local.read(d, r))));
    }
  });

  it('serves a blob it was handed at commit without reading the backend, and ignores big ones', async () => {
    const bytes = randomBytes(300);
    const d = await put(bytes);
    const big = randomBytes(SMALL_BLOB_BYTES + 1);
    const bd = await put(big);
    const cache = createSmallBlobCache();
    cache.remember(d, Buffer.from(bytes));
    cache.remember(bd, big);
    expect(await collect(cache.read(backend, d, bytes.length, { offset: 100, size: 10 }))).toEqual(bytes.subarray(100, 110));
    expect(backendReads).toBe(0);
    expect(await collect(cache.read(backend, bd, big.length))).toEqual(big);
    expect(backendReads).toBe(1);
  });

  it('leaves layers to the backend', async () => {
    const bytes = randomBytes(SMALL_BLOB_BYTES + 1);
    const d = await put(bytes);
    const cache = createSmallBlobCache();
    expect(await collect(cache.read(backend, d, bytes.length))).toEqual(bytes);
    expect(await collect(cache.read(backend, d, bytes.length))).toEqual(bytes);
    expect(backendReads).toBe(2);
  });

  it('drops the least recently read first once full', async () => {
    const blobs = await Promise.all([1, 2, 3].map(async () => { const b = randomBytes(40); return { b, d: await put(b) }; }));
    const cache = createSmallBlobCache(100);
    for (const { b, d } of blobs.slice(0, 2)) await collect(cache.read(backend, d, b.length));
    // Reading the first again makes the second the oldest; the third pushes it out.
    await collect(cache.read(backend, blobs[0]!.d, 40));
    await collect(cache.read(backend, blobs[2]!.d, 40));
    expect(backendReads).toBe(3);
    await collect(cache.read(backend, blobs[0]!.d, 40));
    expect(backendReads).toBe(3);
    expect(await collect(cache.read(backend, blobs[1]!.d, 40))).toEqual(blobs[1]!.b);
    expect(backendReads).toBe(4);
  });

  it('reads through, and keeps nothing, when the blob is not the size its record says', async () => {
    const bytes = randomBytes(100);
    const d = await put(bytes);
    const cache = createSmallBlobCache();
    expect(await collect(cache.read(backend, d, 50))).toEqual(bytes);
    expect(await collect(cache.read(backend, d, 50))).toEqual(bytes);
    expect(backendReads).toBe(4);
  });
});
