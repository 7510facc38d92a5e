import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@flotilla/log';
import { createLocalStore, type ContentStore, type LocalContentStore } from '@flotilla/service-content';
import { openMetadata, type Db } from '../metadata/db.js';
import { createLeaseStore, type LeaseStore } from '../metadata/leases.js';
import { createNamespacedContent, type NamespacedContent } from '../metadata/content.js';
import { createExchange } from '../events/exchange.js';
import { createCollector, type Collector, type ContentRef } from './collect.js';
import { createRwLock } from './rw-lock.js';

const log = createLogger({ service: 'test', level: 'silent' });
const digestOf = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

let dir: string;
let db: Db;
let backend: LocalContentStore;
let leases: LeaseStore;
let content: NamespacedContent;
let gc: Collector;
let clock: number;
let extraRoots: ContentRef[];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gc-'));
  db = openMetadata(join(dir, 'meta.db'));
  backend = await createLocalStore({ root: join(dir, 'content'), log });
  leases = createLeaseStore(db);
  const lock = createRwLock();
  clock = Date.now();
  extraRoots = [];
  gc = createCollector({ db, backend, lock, log, roots: [() => extraRoots], now: () => clock });
  content = createNamespacedContent({ db, backend, leases, events: createExchange(log), lock, onDelete: () => {} });
});
afterEach(() => {
  gc.close();
  backend.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

async function put(store: ContentStore, body: string, labels: Record<string, string> = {}): Promise<string> {
  const d = digestOf(body);
  const w = await store.writer({ ref: `ref-${d}`, total: body.length, expected: d });
  // As clients do: a shared blob (or a resumed ingest) already has bytes; write only the rest.
  const { offset } = await w.status();
  if (offset < body.length) await w.write(Buffer.from(body).subarray(offset));
  await w.commit(body.length, d, { labels });
  return d;
}
const onDisk = (d: string) => existsSync(join(dir, 'content', 'blobs', 'sha256', d.slice(7)));

describe('garbage collection', () => {
  it('keeps roots and what their gc.ref labels name, and removes the rest from metadata and disk', async () => {
    const ns = content.store('n1');
    const layer = await put(ns, 'layer');
    const config = await put(ns, 'config');
    const manifest = await put(ns, 'manifest', { 'containerd.io/gc.ref.content.l.0': layer, 'containerd.io/gc.ref.content.config': config });
    const pinned = await put(ns, 'pinned', { 'containerd.io/gc.root': 'true' });
    const loose = await put(ns, 'loose');
    extraRoots = [{ namespace: 'n1', digest: manifest }];
    await gc.collect();
    expect(gc.last()).toMatchObject({ contentRemoved: 1, blobsRemoved: 1 });
    for (const d of [layer, config, manifest, pinned]) expect(onDisk(d), d).toBe(true);
    expect(onDisk(loose)).toBe(false);
    await expect(ns.info(loose)).rejects.toThrow();

    extraRoots = [];
    await gc.collect();
    for (const d of [layer, config, manifest]) expect(onDisk(d), d).toBe(false);
    expect(onDisk(pinned)).toBe(true);
  });

  it('keeps a blob on disk while any namespace holds it', async () => {
    const a = content.store('a');
    const b = content.store('b');
    const d = await put(a, 'shared', { 'containerd.io/gc.root': '1' });
    await put(b, 'shared');
    await gc.collect();
    expect(onDisk(d)).toBe(true);
    await expect(b.info(d)).rejects.toThrow();
    await a.delete(d);
    await gc.collect();
    expect(onDisk(d)).toBe(false);
  });

  it('honours leases until they expire, and flat leases hold only what they name', async () => {
    leases.create('n1', 'hold', { 'containerd.io/gc.expire': new Date(clock + 60_000).toISOString() });
    leases.create('n1', 'flat', { 'containerd.io/gc.flat': '' });
    const held = await put(content.store('n1', 'hold'), 'held by lease');
    const child = await put(content.store('n1'), 'child');
    const parent = await put(content.store('n1', 'flat'), 'parent', { 'containerd.io/gc.ref.content': child });
    await gc.collect();
    expect(onDisk(held)).toBe(true);
    expect(onDisk(parent)).toBe(true);
    expect(onDisk(child)).toBe(false);
    clock += 120_000;
    await gc.collect();
    expect(gc.last()?.leasesExpired).toBe(1);
    expect(onDisk(held)).toBe(false);
    expect(leases.list('n1').map((l) => l.id)).toEqual(['flat']);
  });

  it('never removes an in-progress ingest, and aborts it once it expires unleased', async () => {
    const ns = content.store('n1');
    const w = await ns.writer({ ref: 'slow', total: 10 });
    await w.write(Buffer.from('12345'));
    await w.close();
    await gc.collect();
    expect((await ns.status('slow')).offset).toBe(5);
    clock += 25 * 3600 * 1000;
    await gc.collect();
    expect(gc.last()).toMatchObject({ ingestsExpired: 1, ingestsAborted: 1 });
    await expect(ns.status('slow')).rejects.toThrow();
    expect(await backend.listStatuses()).toEqual([]);
  });

  it('does not take a blob committed while it runs', async () => {
    const ns = content.store('n1', 'l');
    leases.create('n1', 'l', {});
    const writes = Array.from({ length: 20 }, (_, i) => put(ns, `racing-${i}`));
    const collections = Array.from({ length: 5 }, () => gc.collect());
    const digests = await Promise.all(writes);
    await Promise.all(collections);
    await gc.collect();
    for (const d of digests) expect(onDisk(d), d).toBe(true);
  });
});
