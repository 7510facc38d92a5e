import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { fromBinary } from '@bufbuild/protobuf';
import { ImageDeleteSchema } from '@flotilla/proto/containerd/events/image_pb';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@flotilla/log';
import { createLocalStore, type ContentStore, type LocalContentStore } from '@flotilla/service-content';
import { openMetadata, type Db } from '../metadata/db.js';
import { createLeaseStore, type LeaseStore } from '../metadata/leases.js';
import { createNamespacedContent, type NamespacedContent } from '../metadata/content.js';
import { createImageStore, type ImageStore } from '../metadata/images.js';
import { createContainerStore, type ContainerInput, type ContainerStore } from '../metadata/containers.js';
import { createNamespacedSnapshots, type NamespacedSnapshots } from '../metadata/snapshots.js';
import { createExchange } from '../events/exchange.js';
import { createMemorySnapshotter, type MemorySnapshotter } from '../test-support/memory-snapshotter.js';
import { createCollector, type Collector } from './collect.js';
import { containerNode, snapshotNode } from './references.js';
import { createRwLock } from './rw-lock.js';
import { containerRoots } from './roots.js';

const log = createLogger({ service: 'test', level: 'silent' });
const digestOf = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const spec = { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: new Uint8Array() };
const ctr = (id: string, over: Partial<ContainerInput> = {}): ContainerInput => ({ id, runtime: { name: 'io.containerd.runc.v2' }, spec, ...over });

let dir: string;
let db: Db;
let backend: LocalContentStore;
let leases: LeaseStore;
let content: NamespacedContent;
let images: ImageStore;
let containers: ContainerStore;
let overlay: MemorySnapshotter;
let snapshots: NamespacedSnapshots;
let gc: Collector;
let clock: number;
let stopEvents: AbortController;
let imageDeletes: { namespace: string; name: string }[];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gc-roots-'));
  db = openMetadata(join(dir, 'meta.db'));
  backend = await createLocalStore({ root: join(dir, 'content'), log });
  leases = createLeaseStore(db);
  images = createImageStore(db);
  containers = createContainerStore(db);
  const lock = createRwLock();
  const events = createExchange(log);
  overlay = createMemorySnapshotter();
  snapshots = createNamespacedSnapshots({ db, name: 'overlayfs', backend: () => overlay, leases, events, log, onRemove: () => {} });
  clock = Date.parse('2026-06-01T00:00:00Z');
  imageDeletes = [];
  stopEvents = new AbortController();
  void (async () => {
    for await (const e of events.subscribe(stopEvents.signal)) {
      if (e.topic === '/images/delete') imageDeletes.push({ namespace: e.namespace, name: fromBinary(ImageDeleteSchema, e.event!.value).name });
    }
  })();
  gc = createCollector({ db, backend, lock, log, roots: [containerRoots(containers)], images, snapshotters: () => [snapshots], events, now: () => clock });
  content = createNamespacedContent({ db, backend, leases, events, lock, onDelete: () => {} });
});
afterEach(() => {
  stopEvents.abort();
  gc.close();
  backend.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

async function put(store: ContentStore, body: string, labels: Record<string, string> = {}): Promise<string> {
  const d = digestOf(body);
  const w = await store.writer({ ref: `ref-${d}`, total: body.length, expected: d });
  await w.write(Buffer.from(body));
  await w.commit(body.length, d, { labels });
  return d;
}
const onDisk = (d: string) => existsSync(join(dir, 'content', 'blobs', 'sha256', d.slice(7)));

describe('containers as garbage collection roots', () => {
  it('hold their root filesystem and its parents once the lease that made them is gone, until deleted', async () => {
    // As `ctr run` leaves things: layers unpacked and the container's snapshot prepared under a lease the
    // client deletes once the container record exists.
    leases.create('n', 'create', {});
    const sn = snapshots.snapshotter('n', 'create');
    await sn.prepare('extract', '');
    await sn.commit('layer', 'extract');
    await sn.prepare('c1', 'layer');
    containers.create('n', ctr('c1', { snapshotter: 'overlayfs', snapshotKey: 'c1' }));
    leases.delete('n', 'create');

    await gc.collect();
    expect(gc.last()).toMatchObject({ snapshotsRemoved: 0 });
    expect(overlay.keys()).toHaveLength(2);

    containers.delete('n', 'c1');
    await gc.collect();
    expect(gc.last()).toMatchObject({ snapshotsRemoved: 2, backendSnapshotsRemoved: 2 });
    expect(overlay.keys()).toEqual([]);
  });

  it('hold what their gc.ref labels name, and what names them in a gc.bref.container label', async () => {
    const store = content.store('n');
    const referenced = await put(store, 'referenced');
    const tied = await put(store, 'tied', { 'containerd.io/gc.bref.container': 'c1' });
    const tiedElsewhere = await put(store, 'tied to another', { 'containerd.io/gc.bref.container.x': 'c2' });
    containers.create('n', ctr('c1', { labels: { 'containerd.io/gc.ref.content.x': referenced } }));
    await gc.collect();
    expect([onDisk(referenced), onDisk(tied), onDisk(tiedElsewhere)]).toEqual([true, true, false]);
    containers.delete('n', 'c1');
    await gc.collect();
    expect([onDisk(referenced), onDisk(tied)]).toEqual([false, false]);
  });

  it('do not hold their image: only the container record and its root filesystem, as in containerd', () => {
    const target = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: digestOf('index'), size: 5, annotations: {} };
    images.create('n', { name: 'img', target, labels: { 'containerd.io/gc.ref.snapshot.overlayfs': 'chain' } });
    containers.create('n', ctr('c1', { image: 'img', snapshotter: 'overlayfs', snapshotKey: 'c1' }));
    containers.create('n', ctr('c2', { image: 'img' }));
    expect([...containerRoots(containers)()]).toEqual([
      containerNode('n', 'c1'),
      snapshotNode('n', 'overlayfs', 'c1'),
      containerNode('n', 'c2'),
    ]);
  });
});

describe('images in garbage collection', () => {
  const index = (body: string) => ({ mediaType: 'application/vnd.oci.image.index.v1+json', digest: digestOf(body), size: body.length, annotations: {} });
  const EXPIRE = 'containerd.io/gc.expire';

  it('hold their target and what their labels name while they have no expiry or it is ahead', async () => {
    const store = content.store('n');
    const root = await put(store, 'index-a');
    const named = await put(store, 'named by label');
    const later = await put(store, 'index-b');
    images.create('n', { name: 'a', target: index('index-a'), labels: { 'containerd.io/gc.ref.content.x': named } });
    images.create('n', { name: 'b', target: index('index-b'), labels: { [EXPIRE]: '2026-06-02T00:00:00Z' } });
    await gc.collect();
    expect([onDisk(root), onDisk(named), onDisk(later)]).toEqual([true, true, true]);
    expect(gc.last()).toMatchObject({ imagesRemoved: 0 });
    expect(images.list('n').map((i) => i.name).sort()).toEqual(['a', 'b']);
  });

  it('delete an expired image nothing names, with what only it held, and publish /images/delete', async () => {
    const store = content.store('n');
    const blob = await put(store, 'index-old');
    images.create('n', { name: 'old', target: index('index-old'), labels: { [EXPIRE]: '2026-05-31T23:59:59Z' } });
    images.create('n', { name: 'odd', target: index('index-old'), labels: { [EXPIRE]: 'next tuesday' } });
    await gc.collect();
    expect(gc.last()).toMatchObject({ imagesRemoved: 1 });
    expect(images.list('n').map((i) => i.name)).toEqual(['odd']);
    // The image with an unreadable expiry is kept, as containerd keeps it, and holds the blob.
    expect(onDisk(blob)).toBe(true);
    // Published before the collection's content sweep, so delivered by the time collect() resolves (as
    // /snapshot/remove is in collect.test.ts).
    expect(imageDeletes).toEqual([{ namespace: 'n', name: 'old' }]);

    images.update('n', { name: 'odd', target: index('index-old'), labels: { [EXPIRE]: '2026-05-01T00:00:00+02:00' } });
    await gc.collect();
    expect(images.list('n')).toEqual([]);
    expect(onDisk(blob)).toBe(false);
  });

  it('keep an expired image another object names in a gc.ref.image label, and what belongs to it by gc.bref.image', async () => {
    const store = content.store('n');
    const target = await put(store, 'index-kept');
    const belongs = await put(store, 'belongs to kept', { 'containerd.io/gc.bref.image': 'kept' });
    const holder = await put(store, 'holder', { 'containerd.io/gc.root': '', 'containerd.io/gc.ref.image': 'kept' });
    images.create('n', { name: 'kept', target: index('index-kept'), labels: { [EXPIRE]: '2026-01-01T00:00:00Z' } });
    await gc.collect();
    expect(images.list('n').map((i) => i.name)).toEqual(['kept']);
    expect([onDisk(target), onDisk(belongs), onDisk(holder)]).toEqual([true, true, true]);

    // The holder lets go: the expired image goes, and what belonged to it with it.
    await store.update({ digest: holder, labels: { 'containerd.io/gc.root': '' } }, ['labels.containerd.io/gc.ref.image']);
    await gc.collect();
    expect(images.list('n')).toEqual([]);
    expect([onDisk(target), onDisk(belongs), onDisk(holder)]).toEqual([false, false, true]);
  });
});
