import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
} from '@flotilla/errdefs';
import { openMetadata, type Db } from './db.js';
import { createNamespaceStore, type NamespaceStore } from './namespaces.js';
import { createImageStore, type ImageStore } from './images.js';
import { createContainerStore, type AnyValue, type ContainerInput, type ContainerStore } from './containers.js';

const bytes = (s: string) => new Uint8Array(Buffer.from(s));
const SPEC: AnyValue = { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: bytes('{"ociVersion":"1.1.0"}') };
const RUNC_OPTIONS: AnyValue = { typeUrl: 'containerd.runc.v1.Options', value: bytes('\n\x04crun') };
const EXT: AnyValue = { typeUrl: 'example.com/Ext', value: bytes('ext') };

const ctr = (id: string, over: Partial<ContainerInput> = {}): ContainerInput => ({
  id,
  runtime: { name: 'io.containerd.runc.v2' },
  spec: SPEC,
  ...over,
});
/** A stored blob reads back as a Buffer; compare the bytes. */
const plain = (a: AnyValue | undefined) => a && { typeUrl: a.typeUrl, value: Buffer.from(a.value).toString('latin1') };

let dir: string;
let db: Db;
let namespaces: NamespaceStore;
let images: ImageStore;
let containers: ContainerStore;
let clock: number;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'container-store-'));
  db = openMetadata(join(dir, 'meta.db'));
  namespaces = createNamespaceStore(db);
  clock = 1_700_000_000_000;
  images = createImageStore(db);
  containers = createContainerStore(db, { now: () => new Date(clock) });
  namespaces.addHolder(images);
  namespaces.addHolder(containers);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('container store: create and get', () => {
  it('keeps every field, each Any byte for byte, and drops labels set to empty', () => {
    const created = containers.create('n', ctr('c1', {
      labels: { a: '1', gone: '' },
      image: 'docker.io/library/busybox:latest',
      runtime: { name: 'io.containerd.runc.v2', options: RUNC_OPTIONS },
      snapshotter: 'overlayfs',
      snapshotKey: 'c1',
      extensions: { ext: EXT },
      sandbox: 'sb1',
    }));
    expect(created.labels).toEqual({ a: '1' });
    expect(created.createdAt).toEqual(new Date(clock));
    expect(created.updatedAt).toEqual(new Date(clock));
    const got = containers.get('n', 'c1');
    expect({ ...got, spec: plain(got.spec), runtime: { ...got.runtime, options: plain(got.runtime.options) }, extensions: { ext: plain(got.extensions['ext']) } }).toEqual({
      id: 'c1',
      labels: { a: '1' },
      image: 'docker.io/library/busybox:latest',
      runtime: { name: 'io.containerd.runc.v2', options: plain(RUNC_OPTIONS) },
      spec: plain(SPEC),
      snapshotter: 'overlayfs',
      snapshotKey: 'c1',
      extensions: { ext: plain(EXT) },
      sandbox: 'sb1',
      createdAt: new Date(clock),
      updatedAt: new Date(clock),
    });
  });

  it('keeps runtime options absent when none were given, and an empty spec as a spec', () => {
    containers.create('n', ctr('c1', { spec: { typeUrl: '', value: new Uint8Array() } }));
    const got = containers.get('n', 'c1');
    expect(got.runtime).toEqual({ name: 'io.containerd.runc.v2' });
    expect(plain(got.spec)).toEqual({ typeUrl: '', value: '' });
    expect(got.extensions).toEqual({});
  });

  it('creates the namespace, and refuses a second container of the same id in it only', () => {
    containers.create('n', ctr('c1'));
    expect(namespaces.list().map((n) => n.name)).toEqual(['n']);
    expect(() => containers.create('n', ctr('c1'))).toThrow(new AlreadyExistsError('container "c1"'));
    containers.create('m', ctr('c1'));
  });

  it('answers NotFound with containerd\'s words', () => {
    expect(() => containers.get('n', 'nope')).toThrow(new NotFoundError('container "nope" in namespace "n"'));
    expect(() => containers.get('n', '')).toThrow(NotFoundError);
  });

  it.each([
    ['an empty id', ctr(''), InvalidArgumentError, 'create container failed validation: container.ID: identifier must not be empty: invalid argument'],
    ['a malformed id', ctr('a/b'), InvalidArgumentError, /^create container failed validation: container\.ID: identifier "a\/b" must match /],
    ['an id too long', ctr('a'.repeat(77)), InvalidArgumentError, /greater than maximum length \(76 characters\)/],
    ['an empty extension name', ctr('c', { extensions: { '': EXT } }), InvalidArgumentError, 'create container failed validation: container.Extension keys must not be zero-length: invalid argument'],
    ['a label too large', ctr('c', { labels: { k: 'v'.repeat(4096) } }), InvalidArgumentError, /^create container failed validation: containers\.Labels: label key and value length \(4097 bytes\) greater than maximum size \(4096 bytes\), key: k: invalid argument$/],
    ['no runtime', ctr('c', { runtime: {} }), InvalidArgumentError, 'create container failed validation: container.Runtime.Name must be set: invalid argument'],
    ['no spec', ctr('c', { spec: undefined }), InvalidArgumentError, 'create container failed validation: container.Spec must be set: invalid argument'],
    ['a snapshot key without a snapshotter', ctr('c', { snapshotKey: 'k' }), InvalidArgumentError, 'create container failed validation: container.Snapshotter must be set if container.SnapshotKey is set: invalid argument'],
    ['runtime v1', ctr('c', { runtime: { name: 'io.containerd.runtime.v1.linux' } }), NotImplementedError, /^create container failed validation: runtime "io\.containerd\.runtime\.v1\.linux" is not supported: .*; use io\.containerd\.runc\.v2: not implemented$/],
    ['runc v1', ctr('c', { runtime: { name: 'io.containerd.runc.v1' } }), NotImplementedError, /^create container failed validation: runtime "io\.containerd\.runc\.v1" is not supported: .*; use io\.containerd\.runc\.v2: not implemented$/],
  ])('refuses %s as containerd does', (_, input, kind, message) => {
    let err: unknown;
    try {
      containers.create('n', input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(kind);
    if (typeof message === 'string') expect((err as Error).message).toBe(message);
    else expect((err as Error).message).toMatch(message);
    expect(containers.list('n')).toEqual([]);
  });

  it('checks containerd\'s rules before the removed runtimes, so its own errors come first', () => {
    expect(() => containers.create('n', ctr('c', { runtime: { name: 'io.containerd.runc.v1' }, spec: undefined }))).toThrow(/Spec must be set/);
  });

  it('keeps its records across a reopen', () => {
    containers.create('n', ctr('c1', { labels: { a: '1' }, extensions: { e: EXT } }));
    db.close();
    db = openMetadata(join(dir, 'meta.db'));
    containers = createContainerStore(db);
    const got = containers.get('n', 'c1');
    expect(got.labels).toEqual({ a: '1' });
    expect(plain(got.extensions['e'])).toEqual(plain(EXT));
  });
});

describe('container store: list', () => {
  beforeEach(() => {
    containers.create('n', ctr('web', { image: 'docker.io/library/nginx:1', labels: { tier: 'front', 'app.kubernetes.io/name': 'web' }, snapshotter: 'overlayfs', snapshotKey: 'web' }));
    containers.create('n', ctr('db', { image: 'docker.io/library/postgres:16', labels: { tier: 'back' }, runtime: { name: 'io.containerd.runsc.v1' } }));
    containers.create('n', ctr('Zed'));
    containers.create('other', ctr('elsewhere'));
  });
  const ids = (filters?: string[]) => containers.list('n', filters).map((c) => c.id);

  it('lists a namespace\'s containers in bytewise id order', () => {
    expect(ids()).toEqual(['Zed', 'db', 'web']);
    expect(containers.list('empty')).toEqual([]);
  });

  it.each([
    [['id==db'], ['db']],
    [['id~=^[a-z]'], ['db', 'web']],
    [['image==docker.io/library/nginx:1'], ['web']],
    [['image'], ['db', 'web']],
    [['runtime.name==io.containerd.runsc.v1'], ['db']],
    [['runtime.name!=io.containerd.runsc.v1'], ['Zed', 'web']],
    [['runtime'], []],
    [['labels.tier==front'], ['web']],
    [['labels.tier'], ['db', 'web']],
    [['labels."app.kubernetes.io/name"==web'], ['web']],
    [['labels.tier==front', 'labels.tier==back'], ['db', 'web']],
    [['labels.tier==front,image~=nginx'], ['web']],
    // containerd's adaptor has no snapshot fields: they match nothing, even where the container has one.
    [['snapshotter==overlayfs'], []],
    [['snapshot_key==web'], []],
    [['snapshotter!=overlayfs'], ['Zed', 'db', 'web']],
  ])('filters %j as containerd\'s adaptor', (filters, want) => {
    expect(ids(filters)).toEqual(want);
  });

  it('refuses a malformed filter with the kind twice, as containerd words it', () => {
    expect(() => containers.list('n', ['id=='])).toThrow(InvalidArgumentError);
    expect(() => containers.list('n', ['id=='])).toThrow(/^filters: parse error: .*: invalid argument: invalid argument$/);
  });
});

describe('container store: update', () => {
  beforeEach(() => {
    containers.create('n', ctr('c1', {
      labels: { a: '1', b: '2' },
      image: 'img:1',
      runtime: { name: 'io.containerd.runc.v2', options: RUNC_OPTIONS },
      snapshotter: 'overlayfs',
      snapshotKey: 'c1',
      extensions: { x: EXT },
      sandbox: 'sb',
    }));
    clock += 1000;
  });
  const NEW_SPEC: AnyValue = { typeUrl: SPEC.typeUrl, value: bytes('{"ociVersion":"1.2.0"}') };

  it('sets and removes single labels, keeping the rest', () => {
    const u = containers.update('n', { id: 'c1', labels: { a: '10', c: '3' } }, ['labels.a', 'labels.b', 'labels.c']);
    expect(u.labels).toEqual({ a: '10', c: '3' });
    expect(containers.get('n', 'c1').labels).toEqual({ a: '10', c: '3' });
    expect(u.createdAt).toEqual(new Date(clock - 1000));
    expect(u.updatedAt).toEqual(new Date(clock));
  });

  it('replaces labels, spec, image and snapshot key by field path, and nothing else', () => {
    const u = containers.update('n', { id: 'c1', labels: { z: '26' }, spec: NEW_SPEC, image: 'img:2', snapshotKey: 'other', runtime: { name: 'ignored' }, snapshotter: 'ignored' },
      ['labels', 'spec', 'image', 'snapshotkey']);
    expect(u).toMatchObject({ labels: { z: '26' }, image: 'img:2', snapshotKey: 'other', snapshotter: 'overlayfs', runtime: { name: 'io.containerd.runc.v2' }, sandbox: 'sb' });
    expect(plain(containers.get('n', 'c1').spec)).toEqual(plain(NEW_SPEC));
    expect(plain(containers.get('n', 'c1').runtime.options)).toEqual(plain(RUNC_OPTIONS));
  });

  it('sets, replaces and removes extensions', () => {
    const y: AnyValue = { typeUrl: 'example.com/Y', value: bytes('y') };
    containers.update('n', { id: 'c1', extensions: { y } }, ['extensions.y']);
    expect(Object.keys(containers.get('n', 'c1').extensions).sort()).toEqual(['x', 'y']);
    containers.update('n', { id: 'c1' }, ['extensions.x']);
    expect(Object.keys(containers.get('n', 'c1').extensions)).toEqual(['y']);
    containers.update('n', { id: 'c1', extensions: { x: EXT } }, ['extensions']);
    expect(Object.keys(containers.get('n', 'c1').extensions)).toEqual(['x']);
  });

  it('replaces the mutable fields at once with no field paths, keeping runtime options and sandbox', () => {
    const u = containers.update('n', { id: 'c1', labels: { only: 'this' }, spec: NEW_SPEC, image: '', runtime: { name: 'io.containerd.runc.v2' }, snapshotter: 'overlayfs', snapshotKey: 'c1' });
    expect(u).toMatchObject({ labels: { only: 'this' }, image: '', extensions: {}, sandbox: 'sb' });
    expect(plain(u.runtime.options)).toEqual(plain(RUNC_OPTIONS));
    expect(containers.get('n', 'c1').extensions).toEqual({});
  });

  it('refuses a different snapshotter or runtime on a full replace', () => {
    expect(() => containers.update('n', { id: 'c1', spec: SPEC, runtime: { name: 'io.containerd.runc.v2' }, snapshotter: 'blockfile' }))
      .toThrow(new InvalidArgumentError('container.Snapshotter field is immutable'));
    expect(() => containers.update('n', { id: 'c1', spec: SPEC, runtime: { name: 'io.containerd.runsc.v1' }, snapshotter: 'overlayfs' }))
      .toThrow(new InvalidArgumentError('container.Runtime.Name field is immutable'));
  });

  it.each(['runtime', 'snapshotter', 'sandbox', 'id', 'created_at', 'spec.process', 'labelsx'])('refuses to update %s', (path) => {
    expect(() => containers.update('n', ctr('c1'), [path])).toThrow(new InvalidArgumentError(`cannot update ${JSON.stringify(path)} field on "c1"`));
    expect(containers.get('n', 'c1').updatedAt).toEqual(new Date(clock - 1000));
  });

  it('validates the result as containerd does', () => {
    expect(() => containers.update('n', { id: 'c1' }, ['spec'])).toThrow(new InvalidArgumentError('update failed validation: container.Spec must be set'));
    expect(() => containers.update('n', { id: 'c1', labels: { big: 'v'.repeat(5000) } }, ['labels.big'])).toThrow(/^update failed validation: containers\.Labels: label key/);
    containers.create('n', ctr('bare'));
    expect(() => containers.update('n', { id: 'bare', snapshotKey: 'k' }, ['snapshotkey']))
      .toThrow(new InvalidArgumentError('update failed validation: container.Snapshotter must be set if container.SnapshotKey is set'));
  });

  it('needs an id, and an existing container', () => {
    expect(() => containers.update('n', { id: '' }, ['labels'])).toThrow(new InvalidArgumentError('must specify a container id'));
    expect(() => containers.update('n', { id: 'nope' }, ['labels'])).toThrow(new NotFoundError('container "nope"'));
  });
});

describe('container store: delete, namespaces and garbage collection roots', () => {
  it('deletes with its labels and extensions, and answers NotFound after', () => {
    containers.create('n', ctr('c1', { labels: { a: '1' }, extensions: { e: EXT } }));
    containers.delete('n', 'c1');
    expect(() => containers.get('n', 'c1')).toThrow(NotFoundError);
    expect(() => containers.delete('n', 'c1')).toThrow(new NotFoundError('container c1'));
    expect(db.prepare('SELECT COUNT(*) FROM container_labels').pluck().get()).toBe(0);
    expect(db.prepare('SELECT COUNT(*) FROM container_extensions').pluck().get()).toBe(0);
  });

  it('holds its namespace open, named after images as containerd lists them', () => {
    containers.create('n', ctr('c1'));
    images.create('n', { name: 'img', target: { mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${'1'.repeat(64)}`, size: 1, annotations: {} } });
    expect(() => namespaces.delete('n')).toThrow(new FailedPreconditionError('namespace "n" must be empty, but it still has images, containers'));
    images.delete('n', 'img');
    expect(() => namespaces.delete('n')).toThrow(new FailedPreconditionError('namespace "n" must be empty, but it still has containers'));
    containers.delete('n', 'c1');
    namespaces.delete('n');
  });

  it('lists every container with what it holds, in every namespace', () => {
    containers.create('b', ctr('c2', { image: 'img', snapshotter: 'overlayfs', snapshotKey: 'c2', labels: { 'containerd.io/gc.ref.content.x': 'sha256:x' } }));
    containers.create('a', ctr('c1'));
    expect(containers.roots()).toEqual([
      { namespace: 'a', id: 'c1', image: '', snapshotter: '', snapshotKey: '', labels: {} },
      { namespace: 'b', id: 'c2', image: 'img', snapshotter: 'overlayfs', snapshotKey: 'c2', labels: { 'containerd.io/gc.ref.content.x': 'sha256:x' } },
    ]);
  });
});
