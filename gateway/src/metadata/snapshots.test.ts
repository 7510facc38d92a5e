import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { SnapshotCommitSchema, SnapshotPrepareSchema, SnapshotRemoveSchema } from '@flotilla/proto/containerd/events/snapshot_pb';
import type { Envelope } from '@flotilla/proto/containerd/types/event_pb';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
  UnknownError,
} from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import type { Info, Snapshotter } from '@flotilla/snapshots';
import { dialH2 } from '@flotilla/rpc/client';
import { openMetadata, type Db } from './db.js';
import { createLeaseStore, type LeaseStore } from './leases.js';
import { createNamespaceStore } from './namespaces.js';
import { createNamespacedSnapshots, recordedSnapshotters, type NamespacedSnapshots } from './snapshots.js';
import { createExchange } from '../events/exchange.js';
import { backendSnapshotter } from '../backend-snapshotter.js';
import { createMemorySnapshotter, type MemorySnapshotter } from '../test-support/memory-snapshotter.js';

const log = createLogger({ service: 'test', level: 'silent' });
const ROOT = { 'containerd.io/gc.root': 'true' };

let dir: string;
let db: Db;
let leases: LeaseStore;
let backend: MemorySnapshotter;
let snapshots: NamespacedSnapshots;
let seen: Envelope[];
let stop: AbortController;
let removals: number;

function open(b: MemorySnapshotter): NamespacedSnapshots {
  const events = createExchange(log);
  void (async () => { for await (const e of events.subscribe(stop.signal)) seen.push(e); })();
  return createNamespacedSnapshots({ db, name: 'overlayfs', backend: () => b, leases, events, log, onRemove: () => { removals++; } });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ns-snapshots-'));
  db = openMetadata(join(dir, 'meta.db'));
  leases = createLeaseStore(db);
  seen = [];
  stop = new AbortController();
  removals = 0;
  backend = createMemorySnapshotter();
  snapshots = open(backend);
});
afterEach(() => {
  stop.abort();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const flush = () => new Promise((r) => setImmediate(r));

/** c1 <- c2 committed, a1 active on c2, v1 a view of c2. */
async function chain(sn: Snapshotter): Promise<void> {
  await sn.prepare('c1-a', '', { labels: ROOT });
  await sn.commit('c1', 'c1-a', { labels: ROOT });
  await sn.prepare('c2-a', 'c1', { labels: ROOT });
  await sn.commit('c2', 'c2-a', { labels: ROOT });
  await sn.prepare('a1', 'c2', { labels: ROOT });
  await sn.view('v1', 'c2', { labels: ROOT });
}

async function walked(sn: Snapshotter, ...filters: string[]): Promise<Info[]> {
  const out: Info[] = [];
  await sn.walk((i) => { out.push(i); }, ...filters);
  return out;
}

describe('namespaced snapshots', () => {
  it('gives each namespace its own keys, mapped to backend keys of the namespace and a sequence', async () => {
    const a = snapshots.snapshotter('a');
    const b = snapshots.snapshotter('b');
    await chain(a);
    await b.prepare('c1-a', '', { labels: ROOT });
    expect(backend.keys()).toEqual(['a/2/c1', 'a/4/c2', 'a/5/a1', 'a/6/v1', 'b/1/c1-a']);

    const c2 = await a.stat('c2');
    expect(c2).toMatchObject({ name: 'c2', parent: 'c1', kind: 'committed', labels: ROOT });
    expect(await a.stat('a1')).toMatchObject({ name: 'a1', parent: 'c2', kind: 'active' });
    expect(await a.stat('v1')).toMatchObject({ name: 'v1', parent: 'c2', kind: 'view' });
    expect((await b.stat('c1-a')).kind).toBe('active');
    // What one namespace has, another does not see.
    await expect(b.stat('c1')).rejects.toBeInstanceOf(NotFoundError);
    await expect(b.prepare('x', 'c1')).rejects.toBeInstanceOf(NotFoundError);
    expect((await walked(b)).map((i) => i.name)).toEqual(['c1-a']);
    // Mounts and usage go to the backend under its key.
    expect((await a.mounts('a1'))[0]?.source).toBe('/memory/a/5/a1');
    await expect(a.mounts('c1')).rejects.toBeInstanceOf(FailedPreconditionError);
    expect(await a.usage('c1')).toEqual({ size: 4096, inodes: 1 });
    await expect(a.usage('nope')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('never hands out a sequence twice: not while a call runs, not after the gateway opens the metadata again', async () => {
    let fail = false;
    const flaky: MemorySnapshotter = {
      ...backend,
      prepare: (key, parent, o) => (fail ? Promise.reject(new UnavailableError('backend down')) : backend.prepare(key, parent, o)),
    };
    const a = open(flaky).snapshotter('a');
    // Two prepares at once, and one whose backend call fails (its number is not reused either).
    await Promise.all([a.prepare('x', ''), a.prepare('y', '')]);
    fail = true;
    await expect(a.prepare('z', '')).rejects.toBeInstanceOf(UnavailableError);
    fail = false;
    await a.prepare('w', '');
    expect(backend.keys()).toEqual(['a/1/x', 'a/2/y', 'a/4/w']);
    // The recorded sequence is where a fresh start goes on from.
    const again = open(backend).snapshotter('a');
    await again.commit('c', 'w');
    expect(backend.keys()).toEqual(['a/1/x', 'a/2/y', 'a/5/c']);
  });

  it('answers Mounts from what Prepare returned when the backend\'s mounts are stable, and asks it otherwise', async () => {
    const events = createExchange(log);
    const stable = createNamespacedSnapshots({ db, name: 'overlayfs', backend: () => backend, leases, events, log, onRemove: () => {}, stableMounts: true });
    const sn = stable.snapshotter('n');
    const prepared = await sn.prepare('a', '');
    backend.calls.length = 0;
    expect(await sn.mounts('a')).toEqual(prepared);
    expect(await sn.mounts('a')).toEqual(prepared);
    expect(backend.calls.filter((c) => c.startsWith('mounts'))).toEqual([]);
    // Gone or committed, the key has no mounts; made again, it is a new backend snapshot.
    await sn.commit('c', 'a');
    await expect(sn.mounts('a')).rejects.toBeInstanceOf(NotFoundError);
    await sn.view('v', 'c');
    await sn.remove('v');
    await expect(sn.mounts('v')).rejects.toBeInstanceOf(NotFoundError);
    const again = await sn.view('v', 'c');
    expect(await sn.mounts('v')).toEqual(again);
    // Without the promise every Mounts is the backend's.
    const plain = snapshots.snapshotter('n');
    await plain.prepare('b', '');
    backend.calls.length = 0;
    await plain.mounts('b');
    expect(backend.calls.filter((c) => c.startsWith('mounts'))).toHaveLength(1);
  });

  it('answers as containerd does for keys in use, missing keys and parents', async () => {
    const sn = snapshots.snapshotter('n');
    await chain(sn);
    await expect(sn.prepare('a1', 'c2')).rejects.toBeInstanceOf(AlreadyExistsError);
    await expect(sn.view('c1', '')).rejects.toBeInstanceOf(AlreadyExistsError);
    await expect(sn.prepare('x', 'nosuch')).rejects.toBeInstanceOf(NotFoundError);
    // The backend refuses a parent that is not committed; its answer comes back unchanged.
    await expect(sn.prepare('x', 'a1')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(sn.commit('c3', 'nosuch')).rejects.toBeInstanceOf(NotFoundError);
    await expect(sn.commit('c1', 'a1')).rejects.toBeInstanceOf(AlreadyExistsError);
    await expect(sn.commit('c3', 'v1')).rejects.toBeInstanceOf(FailedPreconditionError);
    await expect(sn.stat('x')).rejects.toBeInstanceOf(NotFoundError);
    // Nothing half-made stays behind: the refused key is free, in the backend too.
    expect(backend.keys().some((k) => k.endsWith('/x'))).toBe(false);
    await sn.prepare('x', 'c2');
  });

  it('commits: the key becomes the name with the commit\'s labels, the parent is kept, events are published', async () => {
    const sn = snapshots.snapshotter('n');
    await sn.prepare('base-a', '', { labels: ROOT });
    await sn.commit('base', 'base-a', { labels: ROOT });
    await sn.prepare('k', 'base', { labels: { ...ROOT, before: 'commit' } });
    await sn.commit('top', 'k', { labels: { after: 'commit' } });
    await expect(sn.stat('k')).rejects.toBeInstanceOf(NotFoundError);
    expect(await sn.stat('top')).toMatchObject({ kind: 'committed', parent: 'base', labels: { after: 'commit' } });
    await sn.view('v', 'base');
    await sn.remove('v');
    await flush();
    expect(seen.map((e) => [e.namespace, e.topic, e.event?.typeUrl])).toEqual([
      ['n', '/snapshot/prepare', 'containerd.events.SnapshotPrepare'],
      ['n', '/snapshot/commit', 'containerd.events.SnapshotCommit'],
      ['n', '/snapshot/prepare', 'containerd.events.SnapshotPrepare'],
      ['n', '/snapshot/commit', 'containerd.events.SnapshotCommit'],
      ['n', '/snapshot/remove', 'containerd.events.SnapshotRemove'],
    ]);
    expect(fromBinary(SnapshotPrepareSchema, seen[2]!.event!.value)).toMatchObject({ key: 'k', parent: 'base', snapshotter: 'overlayfs' });
    expect(fromBinary(SnapshotCommitSchema, seen[3]!.event!.value)).toMatchObject({ key: 'k', name: 'top', snapshotter: 'overlayfs' });
    expect(fromBinary(SnapshotRemoveSchema, seen[4]!.event!.value)).toMatchObject({ key: 'v', snapshotter: 'overlayfs' });
  });

  it('commits a parentless snapshot onto a parent given at commit (rebase), and ignores one given otherwise', async () => {
    const sn = snapshots.snapshotter('n');
    await sn.prepare('p-a', '', { labels: ROOT });
    await sn.commit('p', 'p-a');
    await sn.prepare('loose', '');
    await sn.commit('rebased', 'loose', { parent: 'p' });
    expect((await sn.stat('rebased')).parent).toBe('p');
    await expect(sn.remove('p')).rejects.toBeInstanceOf(FailedPreconditionError);
    await sn.prepare('other-a', '');
    await sn.commit('other', 'other-a');
    await sn.prepare('kept', 'other');
    await sn.commit('kept-c', 'kept', { parent: 'p' });
    expect((await sn.stat('kept-c')).parent).toBe('other');
    await sn.prepare('orphan', '');
    await expect(sn.commit('o', 'orphan', { parent: 'nosuch' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('removes only the record, at once; the backend copy waits for the sweep', async () => {
    const sn = snapshots.snapshotter('n');
    await chain(sn);
    await expect(sn.remove('c2')).rejects.toBeInstanceOf(FailedPreconditionError);
    await expect(sn.remove('nosuch')).rejects.toBeInstanceOf(NotFoundError);
    const before = backend.keys();
    await sn.remove('a1');
    await sn.remove('v1');
    expect(removals).toBe(2);
    expect(backend.keys()).toEqual(before);
    expect(backend.calls.some((c) => c.startsWith('remove'))).toBe(false);
    // The key is free again straight away: a new backend key stands behind it.
    await sn.prepare('a1', 'c2');
    expect(backend.keys()).toContain('n/7/a1');

    // The sweep drops what no record names, and then has the backend clean up.
    expect(await snapshots.sweep()).toBe(2);
    expect(backend.keys()).toEqual(['n/2/c1', 'n/4/c2', 'n/7/a1']);
    expect(backend.cleanups()).toBe(1);
    // Nothing removed since: nothing to do.
    expect(await snapshots.sweep()).toBe(0);
    expect(backend.cleanups()).toBe(1);
  });

  it('sweeps children before parents, and keeps what another namespace still names', async () => {
    const a = snapshots.snapshotter('a');
    await chain(a);
    for (const k of ['a1', 'v1', 'c2', 'c1']) await a.remove(k);
    // Left in the backend by something outside the metadata (a crash between backend and record).
    await backend.prepare('stray', '');
    const b = snapshots.snapshotter('b');
    await b.prepare('keep', '');
    expect(await snapshots.sweep()).toBe(5);
    expect(backend.keys()).toEqual(['b/1/keep']);
    const removes = backend.calls.filter((c) => c.startsWith('remove '));
    expect(removes.indexOf('remove a/4/c2')).toBeLessThan(removes.indexOf('remove a/2/c1'));
    expect(removes.indexOf('remove a/5/a1')).toBeLessThan(removes.indexOf('remove a/4/c2'));
  });

  it('stays dirty when the backend cannot be swept, and sweeps once it can', async () => {
    const sn = snapshots.snapshotter('n');
    await sn.prepare('k', '');
    await sn.remove('k');
    backend.failWith(new UnavailableError('down'));
    await expect(snapshots.sweep()).rejects.toBeInstanceOf(UnavailableError);
    backend.failWith(undefined);
    expect(await snapshots.sweep()).toBe(1);
  });

  it('updates labels by field path, tells the backend only its own labels, and refuses immutable fields', async () => {
    const sn = snapshots.snapshotter('n');
    await sn.prepare('k', '', { labels: { a: '1', 'containerd.io/snapshot/x': 'y' } });
    const st = await sn.stat('k');
    let info = await sn.update({ name: 'k', labels: { a: '2', b: '3', 'containerd.io/snapshot/x': 'z' } });
    expect(info.labels).toEqual({ a: '2', b: '3', 'containerd.io/snapshot/x': 'z' });
    expect(info.created.getTime()).toBe(st.created.getTime());
    expect(info.updated.getTime()).toBeGreaterThanOrEqual(st.updated.getTime());
    expect(info).toMatchObject({ name: 'k', kind: 'active', parent: '' });
    expect((await backend.stat('n/1/k')).labels).toEqual({ 'containerd.io/snapshot/x': 'z' });

    info = await sn.update({ name: 'k', labels: { a: '', c: '4' } }, ['labels.a', 'labels.c']);
    expect(info.labels).toEqual({ b: '3', c: '4', 'containerd.io/snapshot/x': 'z' });
    info = await sn.update({ name: 'k', labels: { only: 'this' } }, ['labels']);
    expect(info.labels).toEqual({ only: 'this' });
    expect((await sn.stat('k')).labels).toEqual({ only: 'this' });
    expect((await backend.stat('n/1/k')).labels).toEqual({});

    for (const path of ['parent', 'name', 'kind']) {
      await expect(sn.update({ name: 'k', parent: 'x' }, [path])).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(sn.update({ name: '' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(sn.update({ name: 'nope', labels: {} })).rejects.toBeInstanceOf(NotFoundError);
    await expect(sn.update({ name: 'k', labels: { big: 'x'.repeat(5000) } })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(sn.prepare('big', '', { labels: { big: 'x'.repeat(5000) } })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('gives the backend only the labels meant for snapshotters, and shows the backend\'s own labels', async () => {
    const sn = snapshots.snapshotter('n');
    await sn.prepare('k', '', { labels: { ...ROOT, 'containerd.io/snapshot.ref': 'sha256:abc', 'containerd.io/snapshot/remote': 'yes', mine: 'x' } });
    expect((await backend.stat('n/1/k')).labels).toEqual({ 'containerd.io/snapshot.ref': 'sha256:abc', 'containerd.io/snapshot/remote': 'yes' });
    // A label only the backend has (overlayfs's upperdir label, say) shows through; the namespace's win.
    await backend.update({ name: 'n/1/k', labels: { 'containerd.io/snapshot/overlay.upperdir': '/up', mine: 'backend' } }, ['labels.containerd.io/snapshot/overlay.upperdir', 'labels.mine']);
    expect((await sn.stat('k')).labels).toMatchObject({ 'containerd.io/snapshot/overlay.upperdir': '/up', mine: 'x' });
  });

  it('walks in key order with containerd\'s filters, skipping what the backend no longer has', async () => {
    const sn = snapshots.snapshotter('n');
    await chain(sn);
    await sn.update({ name: 'c1', labels: { ...ROOT, tier: 'base' } });
    expect((await walked(sn)).map((i) => i.name)).toEqual(['a1', 'c1', 'c2', 'v1']);
    expect((await walked(sn, 'kind==committed')).map((i) => i.name)).toEqual(['c1', 'c2']);
    expect((await walked(sn, 'parent==c2')).map((i) => i.name)).toEqual(['a1', 'v1']);
    expect((await walked(sn, 'labels.tier==base', 'kind==view')).map((i) => i.name)).toEqual(['c1', 'v1']);
    expect((await walked(sn, 'name~=^c')).map((i) => i.name)).toEqual(['c1', 'c2']);
    await expect(walked(sn, 'kind==')).rejects.toBeInstanceOf(InvalidArgumentError);
    await backend.remove('n/6/v1');
    expect((await walked(sn)).map((i) => i.name)).toEqual(['a1', 'c1', 'c2']);
    // Many snapshots go to the backend in batches and still come back in order.
    for (let i = 0; i < 250; i++) await sn.prepare(`many-${String(i).padStart(3, '0')}`, '');
    const many = (await walked(sn, 'name~=^many-')).map((i) => i.name);
    expect(many).toHaveLength(250);
    expect(many).toEqual([...many].sort());
  });

  it('adds what a leased client creates, commits or finds to its lease, and takes removed keys out', async () => {
    leases.create('n', 'pull', {});
    const sn = snapshots.snapshotter('n', 'pull');
    const res = () => leases.listResources('n', 'pull').map((r) => `${r.type} ${r.id}`);
    await sn.prepare('extract-1', '');
    expect(res()).toEqual(['snapshots/overlayfs extract-1']);
    await sn.commit('layer-1', 'extract-1');
    expect(res()).toEqual(['snapshots/overlayfs layer-1']);
    await sn.view('v', 'layer-1');
    await sn.remove('v');
    expect(res()).toEqual(['snapshots/overlayfs layer-1']);

    // Another client's lease finds the layer there: AlreadyExists, and its lease holds the layer too.
    leases.create('n', 'second', {});
    const again = snapshots.snapshotter('n', 'second');
    await expect(again.prepare('extract-2', '', { labels: { 'containerd.io/snapshot.ref': 'layer-1' } })).rejects.toBeInstanceOf(AlreadyExistsError);
    expect(leases.listResources('n', 'second').map((r) => r.id)).toEqual(['layer-1']);
    await expect(again.commit('layer-1', 'nosuch')).rejects.toBeInstanceOf(AlreadyExistsError);

    await expect(snapshots.snapshotter('n', 'nosuch-lease').prepare('x', '')).rejects.toBeInstanceOf(NotFoundError);
    expect(backend.keys().some((k) => k.endsWith('/x'))).toBe(false);
    // A commit under a lease that is gone stops before the backend commits anything.
    await snapshots.snapshotter('n').prepare('y', '');
    await expect(snapshots.snapshotter('n', 'nosuch-lease').commit('y-c', 'y')).rejects.toBeInstanceOf(NotFoundError);
    expect((await snapshots.snapshotter('n').stat('y')).kind).toBe('active');
    expect(backend.calls.filter((c) => c.startsWith('commit ') && c.endsWith('/y'))).toEqual([]);
  });

  it('takes a layer the backend already has (a sharing remote snapshotter) as the namespace\'s own', async () => {
    backend = createMemorySnapshotter({ sharesByRef: true });
    snapshots = open(backend);
    const REF = 'containerd.io/snapshot.ref';
    const a = snapshots.snapshotter('a');
    await a.prepare('extract-1', '', { labels: { [REF]: 'sha256:layer', ...ROOT } });
    await a.commit('sha256:layer', 'extract-1', { labels: { [REF]: 'sha256:layer', ...ROOT } });

    leases.create('b', 'pull', {});
    const b = snapshots.snapshotter('b', 'pull');
    await expect(b.prepare('extract-9', '', { labels: { [REF]: 'sha256:layer', mine: 'b' } })).rejects.toBeInstanceOf(AlreadyExistsError);
    const info = await b.stat('sha256:layer');
    expect(info).toMatchObject({ kind: 'committed', parent: '', labels: { [REF]: 'sha256:layer', mine: 'b' } });
    await expect(b.stat('extract-9')).rejects.toBeInstanceOf(NotFoundError);
    expect(leases.listResources('b', 'pull').map((r) => r.id)).toEqual(['sha256:layer']);
    // One backend snapshot behind both names: removing it in one namespace leaves the other's.
    expect(backend.keys()).toEqual(['a/2/sha256:layer']);
    await a.remove('sha256:layer');
    await snapshots.sweep();
    expect(backend.keys()).toEqual(['a/2/sha256:layer']);
    expect((await b.stat('sha256:layer')).kind).toBe('committed');
    await flush();
    expect(seen.filter((e) => e.namespace === 'b')).toEqual([]);
  });

  it('reports a backend AlreadyExists without a target as an unexpected error', async () => {
    const sn = snapshots.snapshotter('n');
    // The next backend key for this namespace, taken behind the metadata's back.
    await backend.prepare('n/1/k', '');
    await expect(sn.prepare('k', '')).rejects.toBeInstanceOf(UnknownError);
    await expect(sn.stat('k')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('serialises commits of one name: one wins, the other answers AlreadyExists and keeps its key', async () => {
    const sn = snapshots.snapshotter('n');
    await sn.prepare('k1', '');
    await sn.prepare('k2', '');
    const results = await Promise.allSettled([sn.commit('same', 'k1'), sn.commit('same', 'k2')]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(AlreadyExistsError);
    expect((await walked(sn)).map((i) => `${i.name} ${i.kind}`).sort()).toHaveLength(2);
    expect(backend.keys()).toHaveLength(2);
  });

  it('holds its namespace: a namespace with snapshots cannot be deleted, in containerd\'s words', async () => {
    const namespaces = createNamespaceStore(db);
    namespaces.addHolder(snapshots);
    const sn = snapshots.snapshotter('busy');
    await sn.prepare('k', '');
    expect(recordedSnapshotters(db)).toEqual(['overlayfs']);
    expect(() => namespaces.delete('busy')).toThrow(FailedPreconditionError);
    expect(() => namespaces.delete('busy')).toThrow('namespace "busy" must be empty, but it still has snapshots on "overlayfs" snapshotter');
    await sn.remove('k');
    namespaces.delete('busy');
    // The namespace made again does not reuse a backend key the old one may still have in the backend.
    await snapshots.snapshotter('busy').prepare('k', '');
    expect(backend.keys()).toEqual(['busy/1/k', 'busy/2/k']);
  });

  it('answers Unavailable at once while the backend process is down', async () => {
    let down: string | undefined = 'plugin process snapshotter-overlay is restarting';
    const h2 = dialH2(join(dir, 'nobody.sock'));
    try {
      const remote = createNamespacedSnapshots({
        db,
        name: 'overlayfs',
        backend: backendSnapshotter({ name: 'snapshotter-overlay', address: '', h2, unavailable: () => down }, 'overlayfs'),
        leases,
        events: createExchange(log),
        log,
        onRemove: () => {},
      });
      const sn = remote.snapshotter('n');
      await expect(sn.prepare('k', '')).rejects.toBeInstanceOf(UnavailableError);
      await expect(walked(sn)).resolves.toEqual([]);
      remote.markDirty();
      await expect(remote.sweep()).rejects.toBeInstanceOf(UnavailableError);
      down = undefined;
    } finally {
      h2.close();
    }
  });
});
