import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { SnapshotRemoveSchema } from '@flotilla/proto/containerd/events/snapshot_pb';
import type { Envelope } from '@flotilla/proto/containerd/types/event_pb';
import { createLogger } from '@flotilla/log';
import { createLocalStore, type ContentStore, type LocalContentStore } from '@flotilla/service-content';
import { openMetadata, type Db } from '../metadata/db.js';
import { createLeaseStore, type LeaseStore } from '../metadata/leases.js';
import { createNamespacedContent, type NamespacedContent } from '../metadata/content.js';
import { createExchange } from '../events/exchange.js';
import { createCollector, type Collector } from './collect.js';
import { contentNode, snapshotNode, type GcNode } from './references.js';
import { createRwLock } from './rw-lock.js';
import { createNamespacedSnapshots, type NamespacedSnapshots } from '../metadata/snapshots.js';
import { createMemorySnapshotter, type MemorySnapshotter } from '../test-support/memory-snapshotter.js';

const log = createLogger({ service: 'test', level: 'silent' });
const digestOf = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

let dir: string;
let db: Db;
let backend: LocalContentStore;
let leases: LeaseStore;
let content: NamespacedContent;
let gc: Collector;
let clock: number;
let extraRoots: GcNode[];
let overlay: MemorySnapshotter;
let snapshots: NamespacedSnapshots;
let removed: Envelope[];
let stop: AbortController;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gc-'));
  db = openMetadata(join(dir, 'meta.db'));
  backend = await createLocalStore({ root: join(dir, 'content'), log });
  leases = createLeaseStore(db);
  const lock = createRwLock();
  clock = Date.now();
  extraRoots = [];
  const events = createExchange(log);
  removed = [];
  stop = new AbortController();
  void (async () => { for await (const e of events.subscribe(stop.signal)) if (e.topic === '/snapshot/remove') removed.push(e); })();
  overlay = createMemorySnapshotter();
  snapshots = createNamespacedSnapshots({ db, name: 'overlayfs', backend: () => overlay, leases, events, log, onRemove: () => {} });
  gc = createCollector({ db, backend, lock, log, roots: [() => extraRoots], snapshotters: () => [snapshots], events, now: () => clock });
  content = createNamespacedContent({ db, backend, leases, events, lock, onDelete: () => gc.markContentDirty() });
});
afterEach(() => {
  stop.abort();
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
    extraRoots = [contentNode('n1', manifest)];
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

  it('lists the content process only when a content record went since its last sweep', async () => {
    const ns = content.store('n1');
    const kept = await put(ns, 'kept', { 'containerd.io/gc.root': '1' });
    const dropped = await put(ns, 'dropped');
    await gc.collect();
    expect(onDisk(dropped)).toBe(false);
    let lists = 0;
    const list = backend.list.bind(backend);
    backend.list = (...args) => { lists++; return list(...args); };
    // Nothing went: the metadata pass alone.
    leases.create('n1', 'empty', {});
    leases.delete('n1', 'empty');
    await gc.collect();
    expect(lists).toBe(0);
    // A namespace deleted its record: the blob goes from disk at the next collection.
    const deleted = await put(ns, 'deleted', { 'containerd.io/gc.root': '1' });
    await ns.delete(deleted);
    await gc.collect();
    expect(lists).toBe(1);
    expect(onDisk(deleted)).toBe(false);
    expect(onDisk(kept)).toBe(true);
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

describe('garbage collection of snapshots', () => {
  const SNAP_REF = 'containerd.io/gc.ref.snapshot.overlayfs';
  const flush = () => new Promise((r) => setImmediate(r));

  /** An unpacked image as a pull leaves it: a chain of layers, and a config blob naming the top one. */
  async function unpacked(ns: string): Promise<{ manifest: string; config: string }> {
    leases.create(ns, 'pull', {});
    const sn = snapshots.snapshotter(ns, 'pull');
    await sn.prepare('extract-1', '');
    await sn.commit('layer-1', 'extract-1');
    await sn.prepare('extract-2', 'layer-1');
    await sn.commit('layer-2', 'extract-2');
    const store = content.store(ns, 'pull');
    const config = await put(store, `config of ${ns}`, { [SNAP_REF]: 'layer-2' });
    const manifest = await put(store, `manifest of ${ns}`, { 'containerd.io/gc.ref.content.config': config });
    leases.delete(ns, 'pull');
    return { manifest, config };
  }

  it('keeps an image\'s snapshots through its config\'s gc.ref.snapshot label, and collects them once the image goes', async () => {
    const { manifest } = await unpacked('n1');
    extraRoots = [contentNode('n1', manifest)];
    await gc.collect();
    expect(gc.last()).toMatchObject({ snapshotsRemoved: 0, backendSnapshotsRemoved: 0, contentRemoved: 0 });
    expect(overlay.keys()).toEqual(['n1/2/layer-1', 'n1/4/layer-2']);

    // The image is removed: its blobs, its snapshots' records, then the backend's snapshots go, the
    // child first, and the backend cleans up.
    extraRoots = [];
    await gc.collect();
    expect(gc.last()).toMatchObject({ snapshotsRemoved: 2, backendSnapshotsRemoved: 2, contentRemoved: 2 });
    expect(overlay.keys()).toEqual([]);
    const removes = overlay.calls.filter((c) => c.startsWith('remove '));
    expect(removes).toEqual(['remove n1/4/layer-2', 'remove n1/2/layer-1']);
    expect(overlay.cleanups()).toBe(1);
    await flush();
    expect(removed.map((e) => [e.namespace, fromBinary(SnapshotRemoveSchema, e.event!.value).key]).sort()).toEqual([['n1', 'layer-1'], ['n1', 'layer-2']]);
    expect(fromBinary(SnapshotRemoveSchema, removed[0]!.event!.value).snapshotter).toBe('overlayfs');
  });

  it('keeps one namespace\'s snapshots when another\'s image of the same layers goes', async () => {
    const a = await unpacked('a');
    const b = await unpacked('b');
    extraRoots = [contentNode('a', a.manifest), contentNode('b', b.manifest)];
    await gc.collect();
    extraRoots = [contentNode('b', b.manifest)];
    await gc.collect();
    expect(overlay.keys()).toEqual(['b/2/layer-1', 'b/4/layer-2']);
  });

  it('follows gc.root labels on snapshots, their parents, and the blobs and snapshots their labels name', async () => {
    const sn = snapshots.snapshotter('n1');
    leases.create('n1', 'l', {});
    const held = snapshots.snapshotter('n1', 'l');
    const blob = await put(content.store('n1', 'l'), 'named by a snapshot');
    await held.prepare('base-a', '');
    await held.commit('base', 'base-a');
    await held.prepare('other-a', '');
    await held.commit('other', 'other-a');
    await held.prepare('pinned', 'base', { labels: { 'containerd.io/gc.root': 'yes', 'containerd.io/gc.ref.content.blob': blob, [`${SNAP_REF}/1`]: 'other' } });
    await held.prepare('loose', 'base');
    leases.delete('n1', 'l');
    await gc.collect();
    expect(gc.last()).toMatchObject({ snapshotsRemoved: 1, contentRemoved: 0 });
    expect((await sn.stat('pinned')).kind).toBe('active');
    expect((await sn.stat('other')).kind).toBe('committed');
    await expect(sn.stat('loose')).rejects.toThrow();
    expect(onDisk(blob)).toBe(true);
    expect(overlay.keys()).toEqual(['n1/2/base', 'n1/4/other', 'n1/5/pinned']);
  });

  it('keeps what leases hold; a flat lease keeps a snapshot\'s parents but not what its labels name', async () => {
    leases.create('n1', 'full', {});
    leases.create('n1', 'flat', { 'containerd.io/gc.flat': '' });
    const sn = snapshots.snapshotter('n1', 'full');
    await sn.prepare('p-a', '');
    await sn.commit('p', 'p-a');
    await sn.prepare('named-a', '');
    await sn.commit('named', 'named-a');
    leases.deleteResource('n1', 'full', { type: 'snapshots/overlayfs', id: 'p' });
    leases.deleteResource('n1', 'full', { type: 'snapshots/overlayfs', id: 'named' });
    await snapshots.snapshotter('n1', 'flat').prepare('child', 'p', { labels: { [SNAP_REF]: 'named' } });
    await gc.collect();
    expect(overlay.keys()).toEqual(['n1/2/p', 'n1/5/child']);

    // The same snapshot under a full lease keeps what it names, too.
    await snapshots.snapshotter('n1', 'full').prepare('child2', 'p', { labels: { [SNAP_REF]: 'p' } });
    await gc.collect();
    expect(overlay.keys()).toEqual(['n1/2/p', 'n1/5/child', 'n1/6/child2']);

    leases.delete('n1', 'flat');
    leases.delete('n1', 'full');
    await gc.collect();
    expect(overlay.keys()).toEqual([]);
  });

  it('keeps an object that names a live one in a gc.bref label, for as long as that one lives', async () => {
    const pinned = await put(content.store('n1'), 'owner', { 'containerd.io/gc.root': '1' });
    leases.create('n1', 'l', {});
    const sn = snapshots.snapshotter('n1', 'l');
    await sn.prepare('attached', '', { labels: { 'containerd.io/gc.bref.content': pinned } });
    await sn.prepare('anchor', '', { labels: { 'containerd.io/gc.root': '1' } });
    await sn.prepare('attached-to-snapshot', '', { labels: { 'containerd.io/gc.bref.snapshot.overlayfs': 'anchor' } });
    leases.delete('n1', 'l');
    await gc.collect();
    expect(gc.last()?.snapshotsRemoved).toBe(0);
    await content.store('n1').delete(pinned);
    await snapshots.snapshotter('n1').remove('anchor');
    await gc.collect();
    expect(overlay.keys()).toEqual([]);
  });

  it('names snapshots of other snapshotters by the label\'s snapshotter, and leaves those alone', async () => {
    const sn = snapshots.snapshotter('n1');
    leases.create('n1', 'l', {});
    await snapshots.snapshotter('n1', 'l').prepare('k', '');
    leases.delete('n1', 'l');
    // A reference to another snapshotter's "k" does not keep this one's.
    extraRoots = [snapshotNode('n1', 'blockfile', 'k')];
    await gc.collect();
    await expect(sn.stat('k')).rejects.toThrow();
    expect(overlay.keys()).toEqual([]);
  });
});
