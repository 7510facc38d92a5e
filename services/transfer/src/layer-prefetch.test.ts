import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { createLogger } from '@flotilla/log';
import { createLayerPrefetcher, type LayerPrefetcher } from './layer-prefetch.js';

const log = createLogger({ service: 'test', level: 'silent' });
const hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
};

describe('layer prefetcher', () => {
  let dir: string;
  let p: LayerPrefetcher | undefined;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'prefetch-')); });
  afterEach(() => {
    p?.close();
    p = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Commit `blob` as the content store does: written under the ingest directory, then linked in by digest. */
  const commit = (blob: Buffer): string => {
    const ingest = join(dir, 'ingest', hex(randomBytes(8)));
    mkdirSync(ingest, { recursive: true });
    writeFileSync(join(ingest, 'data'), blob);
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    linkSync(join(ingest, 'data'), join(dir, 'blobs', 'sha256', hex(blob)));
    return `sha256:${hex(blob)}`;
  };
  const tarLike = (n: number) => Buffer.concat([randomBytes(n / 2), Buffer.alloc(n / 2, 'layer ')]);
  const joined = (chunks: readonly Buffer[]) => Buffer.concat(chunks);

  it('inflates gzip layers as they are committed, and hands each over once', async () => {
    p = createLayerPrefetcher({ dir, log, minBlobBytes: 1024 });
    const tar = tarLike(3 << 20);
    const a = commit(gzipSync(tar));
    const b = commit(gzipSync(Buffer.concat([tar, tar])));
    await until(() => p!.heldBytes === 3 * tar.length);
    expect(p.heldBytes).toBe(3 * tar.length);
    const got = await p.take(a);
    expect(got?.size).toBe(tar.length);
    expect(joined(got!.chunks).equals(tar)).toBe(true);
    expect(joined((await p.take(b))!.chunks).equals(Buffer.concat([tar, tar]))).toBe(true);
    expect(await p.take(a)).toBeUndefined();
    expect(p.heldBytes).toBe(0);
  });

  it('inflates a layer of several gzip members, whose trailer tells only the last one\'s size', async () => {
    p = createLayerPrefetcher({ dir, log, minBlobBytes: 1024 });
    const head = tarLike(1 << 20);
    const tail = tarLike(256 << 10);
    const d = commit(Buffer.concat([gzipSync(head), gzipSync(tail)]));
    await until(() => p!.heldBytes === head.length + tail.length);
    expect(joined((await p.take(d))!.chunks).equals(Buffer.concat([head, tail]))).toBe(true);
  });

  it('leaves alone what is not worth it or not a gzip layer, and a corrupt one to its Apply', async () => {
    p = createLayerPrefetcher({ dir, log, minBlobBytes: 1024, maxBlobBytes: 1 << 20, watch: false, waitMs: 5000 });
    const small = commit(gzipSync(Buffer.from('tiny')));
    const big = commit(gzipSync(randomBytes(2 << 20)));
    const plain = commit(tarLike(64 << 10));
    const zstd = commit(execFileSync('zstd', ['-q', '-c'], { input: tarLike(1 << 20), maxBuffer: 64 << 20 }));
    const bad = gzipSync(tarLike(1 << 20));
    bad.fill(0xff, 100, 400);
    const corrupt = commit(bad);
    const missing = `sha256:${'0'.repeat(64)}`;
    const all = [small, big, plain, zstd, corrupt, missing];
    for (const d of all) p.prefetch(d);
    for (const d of all) expect(await p.take(d), d).toBeUndefined();
    expect(p.heldBytes).toBe(0);
  });

  it('gives up a layer past the per-layer or total limit', async () => {
    p = createLayerPrefetcher({ dir, log, minBlobBytes: 1024, maxLayerBytes: 2 << 20, maxTotalBytes: 3 << 20, watch: false, waitMs: 5000 });
    const over = commit(gzipSync(tarLike(4 << 20)));
    p.prefetch(over);
    expect(await p.take(over)).toBeUndefined();
    const first = commit(gzipSync(tarLike(2 << 20)));
    const second = commit(gzipSync(tarLike(2 << 20)));
    p.prefetch(first);
    await until(() => p!.heldBytes === 2 << 20);
    p.prefetch(second);
    expect(await p.take(second)).toBeUndefined(); // would pass the total
    expect((await p.take(first))?.size).toBe(2 << 20);
    expect(p.heldBytes).toBe(0);
  });

  it('drops what nobody took in time', async () => {
    p = createLayerPrefetcher({ dir, log, minBlobBytes: 1024, keepMs: 50, watch: false });
    const d = commit(gzipSync(tarLike(1 << 20)));
    p.prefetch(d);
    await until(() => p!.heldBytes > 0);
    await until(() => p!.heldBytes === 0, 2000);
    expect(p.heldBytes).toBe(0);
    expect(await p.take(d)).toBeUndefined();
  });

  it('waits briefly for a layer still being inflated, then leaves it to its Apply', async () => {
    const tar = tarLike(4 << 20);
    p = createLayerPrefetcher({ dir, log, minBlobBytes: 1024, watch: false, waitMs: 10_000 });
    const d = commit(gzipSync(tar));
    p.prefetch(d);
    const got = await p.take(d); // asked at once: waits for it
    expect(joined(got!.chunks).equals(tar)).toBe(true);

    const q = createLayerPrefetcher({ dir, log, minBlobBytes: 1024, watch: false, waitMs: 0 });
    try {
      const d2 = commit(gzipSync(Buffer.concat([tar, tar, tar, tar])));
      q.prefetch(d2);
      expect(await q.take(d2)).toBeUndefined(); // not waited for
      await new Promise((r) => setTimeout(r, 500));
      expect(q.heldBytes).toBe(0); // and not kept when it comes
    } finally {
      q.close();
    }
  });

  it('runs its worker under SCHED_IDLE', async () => {
    p = createLayerPrefetcher({ dir, log, minBlobBytes: 1024, watch: false, waitMs: 10_000 });
    const d = commit(gzipSync(tarLike(1 << 20)));
    p.prefetch(d);
    await p.take(d);
    // Field 41 of a thread's stat is its policy; 5 is SCHED_IDLE. The worker is the only such thread.
    const policies = readdirSync('/proc/self/task').map((tid) => {
      const st = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[38]);
    });
    expect(policies.filter((x) => x === 5).length).toBe(1);
  });

  it('inflates nothing, and holds nothing, when its worker cannot start', async () => {
    p = createLayerPrefetcher({ dir, log, minBlobBytes: 1024, watch: false, waitMs: 10_000, nativeUrl: pathToFileURL(join(dir, 'missing.js')).href });
    const d = commit(gzipSync(tarLike(1 << 20)));
    p.prefetch(d);
    expect(await p.take(d)).toBeUndefined(); // answered by the failure, not by the 10 s wait
    p.prefetch(d);
    expect(await p.take(d)).toBeUndefined();
    expect(p.heldBytes).toBe(0);
  }, 5000);
});
