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
import { createImageStore, type ImageStore } from '../metadata/images.js';
import { createContainerStore, type ContainerInput, type ContainerStore } from '../metadata/containers.js';
import { createNamespacedSnapshots, type NamespacedSnapshots } from '../metadata/snapshots.js';
import { createExchange } from '../events/exchange.js';
import { createMemorySnapshotter, type MemorySnapshotter } from '../test-support/memory-snapshotter.js';
import { createCollector, type Collector } from './collect.js';
import { containerNode, contentNode, snapshotNode } from './references.js';
import { createRwLock } from './rw-lock.js';
import { containerRoots, imageRoots } from './roots.js';

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
  gc = createCollector({ db, backend, lock, log, roots: [imageRoots(images), containerRoots(containers, images)], snapshotters: () => [snapshots], events });
  content = createNamespacedContent({ db, backend, leases, events, lock, onDelete: () => {} });
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

  it('hold their image as the image itself does, and only one in their own namespace', () => {
    const target = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: digestOf('index'), size: 5, annotations: {} };
    images.create('n', { name: 'img', target, labels: { 'containerd.io/gc.ref.snapshot.overlayfs': 'chain' } });
    images.create('other', { name: 'img2', target });
    containers.create('n', ctr('c1', { image: 'img', snapshotter: 'overlayfs', snapshotKey: 'c1' }));
    containers.create('n', ctr('c2', { image: 'img2' }));
    expect([...containerRoots(containers, images)()]).toEqual([
      containerNode('n', 'c1'),
      snapshotNode('n', 'overlayfs', 'c1'),
      contentNode('n', target.digest),
      snapshotNode('n', 'overlayfs', 'chain'),
      containerNode('n', 'c2'),
    ]);
  });
});
