import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '@flotilla/errdefs';
import { openMetadata, type Db } from './db.js';
import { createNamespaceStore, type NamespaceStore } from './namespaces.js';
import { createImageStore, digestError, type ImageInput, type ImageStore } from './images.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const img = (name: string, over: Partial<ImageInput> = {}): ImageInput => ({
  name,
  target: { mediaType: INDEX, digest: D1, size: 100, annotations: {} },
  ...over,
});

let dir: string;
let db: Db;
let namespaces: NamespaceStore;
let images: ImageStore;
let clock: number;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'image-store-'));
  db = openMetadata(join(dir, 'meta.db'));
  namespaces = createNamespaceStore(db);
  clock = 1_700_000_000_000;
  images = createImageStore(db, { now: () => new Date(clock) });
  namespaces.addHolder(images);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('digest validation (go-digest)', () => {
  it.each([
    [D1, undefined],
    [`sha384:${'a'.repeat(96)}`, undefined],
    [`sha512:${'a'.repeat(128)}`, undefined],
    ['', 'invalid checksum digest format'],
    ['sha256', 'invalid checksum digest format'],
    [':abc', 'invalid checksum digest format'],
    ['sha256:', 'invalid checksum digest format'],
    [`sha256:${'A'.repeat(64)}`, 'invalid checksum digest format'],
    [`sha256:${'a'.repeat(63)}`, 'invalid checksum digest length'],
    [`sha256:${'a'.repeat(65)}`, 'invalid checksum digest length'],
    [`sha512:${'a'.repeat(64)}`, 'invalid checksum digest length'],
    [`sha256:${'g'.repeat(64)}`, 'invalid checksum digest format'],
    ['md5:abc', 'unsupported digest algorithm'],
    ['MD5:abc', 'invalid checksum digest format'],
  ])('%s', (d, want) => {
    expect(digestError(d)).toBe(want);
  });
});

describe('image store', () => {
  it('creates, gets and refuses a second image of the same name', () => {
    const created = images.create('ns', img('docker.io/library/a:1', { labels: { a: '1', gone: '' } }));
    expect(created).toEqual({
      name: 'docker.io/library/a:1',
      labels: { a: '1' }, // an empty label is never stored, and the reply says so
      target: { mediaType: INDEX, digest: D1, size: 100, annotations: {} },
      createdAt: new Date(clock),
      updatedAt: new Date(clock),
    });
    expect(images.get('ns', 'docker.io/library/a:1')).toEqual(created);
    expect(() => images.create('ns', img('docker.io/library/a:1'))).toThrow(AlreadyExistsError);
    expect(() => images.create('ns', img('docker.io/library/a:1'))).toThrow('image "docker.io/library/a:1": already exists');
    // Same name in another namespace is another image.
    images.create('other', img('docker.io/library/a:1'));
  });

  it('creates the namespace it lands in, and keeps a SOURCE_DATE_EPOCH creation time', () => {
    expect(namespaces.list()).toEqual([]);
    const epoch = new Date('2020-01-02T03:04:05Z');
    const created = images.create('fresh', img('x'), { createdAt: epoch });
    expect(created.createdAt).toEqual(epoch);
    expect(created.updatedAt).toEqual(epoch);
    expect(namespaces.list().map((n) => n.name)).toEqual(['fresh']);
  });

  it('validates as containerd does, in containerd order, and creates nothing on failure', () => {
    const bad: [ImageInput, string][] = [
      [img(''), 'image name must not be empty: invalid argument'],
      [img('x', { labels: { k: 'v'.repeat(4096) } }), 'image.Labels: label key and value length (4097 bytes) greater than maximum size (4096 bytes), key: k: invalid argument'],
      [img('x', { target: { mediaType: INDEX, digest: 'nope', size: 1 } }), 'Target.Digest "nope" invalid: invalid checksum digest format: invalid argument'],
      [img('x', { target: { mediaType: INDEX, digest: 'md5:abc', size: 1 } }), 'Target.Digest "md5:abc" invalid: unsupported digest algorithm: invalid argument'],
      [img('x', { target: { mediaType: INDEX, digest: D1, size: 0 } }), 'Target.Size must be greater than zero: invalid argument'],
      [img('x', { target: { mediaType: INDEX, digest: D1, size: -1 } }), 'Target.Size must be greater than zero: invalid argument'],
      [img('x', { target: { mediaType: '', digest: D1, size: 1 } }), 'Target.MediaType must be set: invalid argument'],
      [{ name: 'x' }, 'Target.Digest "" invalid: invalid checksum digest format: invalid argument'],
      // Name before labels before target.
      [{ name: '', labels: { k: 'v'.repeat(5000) } }, 'image name must not be empty: invalid argument'],
    ];
    for (const [input, message] of bad) {
      expect(() => images.create('ns', input), message).toThrow(InvalidArgumentError);
      expect(() => images.create('ns', input)).toThrow(message);
    }
    expect(namespaces.list()).toEqual([]);
    // Validation comes before the existence check.
    images.create('ns', img('x'));
    expect(() => images.create('ns', img('x', { target: { mediaType: '', digest: D1, size: 1 } }))).toThrow(InvalidArgumentError);
  });

  it('answers NotFound for unknown images and namespaces', () => {
    expect(() => images.get('ns', 'nope')).toThrow(NotFoundError);
    expect(() => images.get('ns', 'nope')).toThrow('image "nope": not found');
    expect(() => images.update('ns', img('nope'))).toThrow(NotFoundError);
    expect(() => images.update('ns', img('nope'), ['labels'])).toThrow(NotFoundError);
    expect(() => images.delete('ns', 'nope')).toThrow('image "nope": not found');
    expect(images.list('ns')).toEqual([]);
    // None of that created the namespace.
    expect(namespaces.list()).toEqual([]);
    expect(() => images.update('ns', img(''))).toThrow('image name is required for update: invalid argument');
  });

  it('replaces the whole record on an update without field paths, keeping its creation time', () => {
    images.create('ns', img('x', { labels: { a: '1' }, target: { mediaType: INDEX, digest: D1, size: 1, annotations: { an: 'v' } } }));
    clock += 5000;
    const updated = images.update('ns', img('x', { target: { mediaType: MANIFEST, digest: D2, size: 7 } }));
    expect(updated.labels).toEqual({});
    expect(updated.target).toEqual({ mediaType: MANIFEST, digest: D2, size: 7, annotations: {} });
    expect(updated.createdAt).toEqual(new Date(clock - 5000));
    expect(updated.updatedAt).toEqual(new Date(clock));
    expect(images.get('ns', 'x')).toEqual(updated);
    // The replacement is validated like a new image.
    expect(() => images.update('ns', { name: 'x' })).toThrow('Target.Digest "" invalid');
  });

  it('updates by field path: labels, labels.<k>, annotations, annotations.<k>, target', () => {
    images.create('ns', img('x', { labels: { a: '1', b: '2' }, target: { mediaType: INDEX, digest: D1, size: 1, annotations: { p: '1', q: '2' } } }));
    const upd = (paths: string[], over: Partial<ImageInput>) => images.update('ns', { name: 'x', ...over }, paths);

    // labels.<k>: set from the request; absent from the request (or '') removes it. Only named keys change.
    let r = upd(['labels.a', 'labels.c', 'labels.b'], { labels: { a: '9', c: '3', z: 'ignored' } });
    expect(r.labels).toEqual({ a: '9', c: '3' });
    expect(r.target).toEqual({ mediaType: INDEX, digest: D1, size: 1, annotations: { p: '1', q: '2' } });
    // A dotted key is everything after the first "labels.".
    r = upd(['labels.io.example/k'], { labels: { 'io.example/k': 'v' } });
    expect(r.labels).toEqual({ a: '9', c: '3', 'io.example/k': 'v' });
    // labels: replace them all.
    r = upd(['labels'], { labels: { only: '1', empty: '' } });
    expect(r.labels).toEqual({ only: '1' });
    // annotations.<k> and annotations act on the target's annotations; the rest of the target stays.
    r = upd(['annotations.p', 'annotations.n'], { target: { annotations: { n: 'new' } } });
    expect(r.target).toEqual({ mediaType: INDEX, digest: D1, size: 1, annotations: { q: '2', n: 'new' } });
    r = upd(['annotations'], { target: { annotations: { all: 'new' } } });
    expect(r.target.annotations).toEqual({ all: 'new' });
    // target: replaced as a unit, annotations included; labels stay.
    r = upd(['target'], { target: { mediaType: MANIFEST, digest: D2, size: 2 } });
    expect(r.target).toEqual({ mediaType: MANIFEST, digest: D2, size: 2, annotations: {} });
    expect(r.labels).toEqual({ only: '1' });
    // Anything else is refused, and the image is left as it was.
    for (const path of ['name', 'createdat', 'target.digest', 'label.x']) {
      expect(() => upd(['labels.a', path], { labels: { a: 'x' } })).toThrow(InvalidArgumentError);
    }
    expect(() => upd(['name'], {})).toThrow('cannot update "name" field on image "x": invalid argument');
    expect(images.get('ns', 'x')).toEqual(r);
    // The result is validated.
    expect(() => upd(['target'], { target: { mediaType: MANIFEST, digest: D2, size: 0 } })).toThrow('Target.Size must be greater than zero');
    expect(() => upd(['labels.k'], { labels: { k: 'v'.repeat(5000) } })).toThrow(/^image\.Labels: /);
    expect(images.get('ns', 'x').target.digest).toBe(D2);
  });

  it('deletes, and with a target only while the image still points at it', () => {
    images.create('ns', img('x', { labels: { a: '1' }, target: { mediaType: INDEX, digest: D1, size: 1, annotations: { k: 'v' } } }));
    expect(() => images.delete('ns', 'x', { target: { digest: D2 } })).toThrow(NotFoundError);
    expect(() => images.delete('ns', 'x', { target: { digest: D2 } })).toThrow(`image "x" has target ${D1}, not ${D2}: not found`);
    images.get('ns', 'x');
    // An empty target digest is no condition at all, as in containerd.
    images.delete('ns', 'x', { target: { digest: '' } });
    expect(() => images.get('ns', 'x')).toThrow(NotFoundError);
    images.create('ns', img('y'));
    images.delete('ns', 'y', { target: { digest: D1 } });
    expect(images.list('ns')).toEqual([]);
    // Labels and annotations went with the images.
    expect(db.prepare('SELECT count(*) FROM image_labels').pluck().get()).toBe(0);
    expect(db.prepare('SELECT count(*) FROM image_annotations').pluck().get()).toBe(0);
  });

  it('lists in byte order of name, filtered as containerd adapts images', () => {
    images.create('ns', img('b', { labels: { tier: 'gold', 'a.b': 'dotted' } }));
    images.create('ns', img('a', { target: { mediaType: MANIFEST, digest: D2, size: 5, annotations: { 'org.opencontainers.image.ref.name': '1' } } }));
    images.create('ns', img('Z'));
    images.create('other', img('hidden'));
    const names = (...filters: string[]) => images.list('ns', filters).map((i) => i.name);
    expect(names()).toEqual(['Z', 'a', 'b']);
    expect(names('name==a')).toEqual(['a']);
    expect(names('name~=^[ab]$')).toEqual(['a', 'b']);
    expect(names('name.anything==a')).toEqual(['a']); // containerd ignores segments after a scalar
    expect(names(`target.digest==${D2}`)).toEqual(['a']);
    expect(names(`target.mediatype==${MANIFEST}`)).toEqual(['a']);
    expect(names('target.size==5')).toEqual([]); // not a field containerd adapts
    expect(names('target')).toEqual([]);
    expect(names('labels.tier==gold')).toEqual(['b']);
    expect(names('labels.tier')).toEqual(['b']);
    expect(names('labels."a.b"==dotted')).toEqual(['b']);
    expect(names('labels.a.b==dotted')).toEqual(['b']);
    expect(names('labels.tier!=gold')).toEqual(['Z', 'a']);
    expect(names('annotations."org.opencontainers.image.ref.name"==1')).toEqual(['a']);
    // Several filters: any may match; within one, every selector must.
    expect(names('name==Z', 'labels.tier==gold')).toEqual(['Z', 'b']);
    expect(names('name==b,labels.tier==gold')).toEqual(['b']);
    expect(names('name==a,labels.tier==gold')).toEqual([]);
    expect(() => names('name==')).toThrow(InvalidArgumentError);
    expect(images.list('ns').find((i) => i.name === 'b')?.labels).toEqual({ tier: 'gold', 'a.b': 'dotted' });
  });

  it('holds its namespace: a namespace with images cannot be deleted', () => {
    images.create('ns', img('x'));
    expect(images.holds('ns')).toBe(true);
    expect(images.holds('other')).toBe(false);
    expect(() => namespaces.delete('ns')).toThrow(FailedPreconditionError);
    expect(() => namespaces.delete('ns')).toThrow('namespace "ns" must be empty, but it still has images: failed precondition');
    images.delete('ns', 'x');
    expect(images.holds('ns')).toBe(false);
    namespaces.delete('ns');
    expect(namespaces.list()).toEqual([]);
  });

  it('reports every target and label for garbage collection, and keeps data across reopen', () => {
    images.create('b', img('one', { labels: { 'containerd.io/gc.ref.content.config': D2 } }));
    images.create('a', img('two', { target: { mediaType: MANIFEST, digest: D2, size: 1 } }));
    images.create('a', img('three'));
    expect([...images.targets()]).toEqual([
      { namespace: 'a', digest: D1 },
      { namespace: 'a', digest: D2 },
      { namespace: 'b', digest: D1 },
    ]);
    db.close();
    db = openMetadata(join(dir, 'meta.db'));
    images = createImageStore(db);
    expect([...images.roots()]).toEqual([
      { namespace: 'a', name: 'three', digest: D1, labels: {} },
      { namespace: 'a', name: 'two', digest: D2, labels: {} },
      { namespace: 'b', name: 'one', digest: D1, labels: { 'containerd.io/gc.ref.content.config': D2 } },
    ]);
    expect(images.get('b', 'one').labels).toEqual({ 'containerd.io/gc.ref.content.config': D2 });
  });
});
