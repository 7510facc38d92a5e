import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from '@flotilla/errdefs';
import { openMetadataStore, type MetadataStore } from './metadata-store.js';

const t0 = new Date('2024-03-01T00:00:00.000Z');
const t1 = new Date('2024-03-01T00:00:01.000Z');
const t2 = new Date('2024-03-01T00:00:02.000Z');
const noUsage = { size: 0, inodes: 0 };

let dir: string;
let store: MetadataStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'overlay-metadata-'));
  store = openMetadataStore(join(dir, 'metadata.db'));
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** c1 <- c2 committed; the chain most cases build on. */
function chain(): void {
  store.createSnapshot('active', 'c1-a', '', undefined, t0);
  store.commitActive('c1-a', 'c1', { size: 4096, inodes: 1 }, undefined, t0);
  store.createSnapshot('active', 'c2-a', 'c1', undefined, t0);
  store.commitActive('c2-a', 'c2', noUsage, undefined, t0);
}

describe('createSnapshot', () => {
  it('records an active snapshot or view with its labels and times', () => {
    const s = store.createSnapshot('view', 'v', '', { a: 'b', empty: '' }, t1);
    expect(s).toEqual({ id: expect.any(String), kind: 'view', parentIds: [] });
    const got = store.getInfo('v');
    expect(got.id).toBe(s.id);
    // An empty label value is not kept, as in containerd.
    expect(got.info).toEqual({ kind: 'view', name: 'v', parent: '', labels: { a: 'b' }, created: t1, updated: t1 });
    expect(got.usage).toEqual(noUsage);
  });

  it('gives the parent chain, nearest first', () => {
    chain();
    const c1 = store.getInfo('c1').id;
    const c2 = store.getInfo('c2').id;
    expect(store.createSnapshot('active', 'a', 'c2', undefined, t1).parentIds).toEqual([c2, c1]);
    expect(store.getSnapshot('a').parentIds).toEqual([c2, c1]);
    expect(store.getInfo('a').info.parent).toBe('c2');
  });

  it('refuses a missing parent (NotFound), an uncommitted one (InvalidArgument), a key in use (AlreadyExists)', () => {
    store.createSnapshot('active', 'a', '', undefined, t0);
    expect(() => store.createSnapshot('active', 'b', 'nope', undefined, t0)).toThrow(NotFoundError);
    expect(() => store.createSnapshot('view', 'b', 'a', undefined, t0)).toThrow(InvalidArgumentError);
    expect(() => store.createSnapshot('view', 'a', '', undefined, t0)).toThrow(AlreadyExistsError);
    expect(() => store.createSnapshot('active', '', '', undefined, t0)).toThrow(InvalidArgumentError);
    expect(store.list().map((s) => s.info.name)).toEqual(['a']);
  });

  it('checks the parent before the key, as containerd does', () => {
    store.createSnapshot('active', 'a', '', undefined, t0);
    expect(() => store.createSnapshot('active', 'a', 'nope', undefined, t0)).toThrow(NotFoundError);
  });

  it('never hands out an id twice, even after a removal', () => {
    const first = store.createSnapshot('active', 'a', '', undefined, t0).id;
    store.remove('a');
    const second = store.createSnapshot('active', 'a', '', undefined, t0).id;
    expect(second).not.toBe(first);
    store.close();
    store = openMetadataStore(join(dir, 'metadata.db'));
    store.remove('a');
    const third = store.createSnapshot('active', 'a', '', undefined, t0).id;
    expect([first, second]).not.toContain(third);
  });
});

describe('commitActive', () => {
  it('renames the active snapshot, keeps its id and parent, takes the commit labels and times', () => {
    chain();
    const { id } = store.createSnapshot('active', 'a', 'c2', { old: 'x' }, t0);
    expect(store.commitActive('a', 'c3', { size: 8192, inodes: 3 }, { fresh: 'y' }, t2)).toBe(id);
    expect(() => store.getInfo('a')).toThrow(NotFoundError);
    const got = store.getInfo('c3');
    expect(got.id).toBe(id);
    expect(got.info).toEqual({ kind: 'committed', name: 'c3', parent: 'c2', labels: { fresh: 'y' }, created: t2, updated: t2 });
    expect(got.usage).toEqual({ size: 8192, inodes: 3 });
  });

  it('refuses a name in use (AlreadyExists) before looking at the key', () => {
    chain();
    store.createSnapshot('active', 'a', '', undefined, t0);
    expect(() => store.commitActive('a', 'c1', noUsage, undefined, t0)).toThrow(AlreadyExistsError);
    expect(() => store.commitActive('missing', 'c1', noUsage, undefined, t0)).toThrow(AlreadyExistsError);
    expect(() => store.commitActive('a', 'a', noUsage, undefined, t0)).toThrow(AlreadyExistsError);
  });

  it('refuses a missing key (NotFound), a view or a committed snapshot (FailedPrecondition)', () => {
    chain();
    store.createSnapshot('view', 'v', 'c1', undefined, t0);
    expect(() => store.commitActive('missing', 'x', noUsage, undefined, t0)).toThrow(NotFoundError);
    expect(() => store.commitActive('v', 'x', noUsage, undefined, t0)).toThrow(FailedPreconditionError);
    expect(() => store.commitActive('c2', 'x', noUsage, undefined, t0)).toThrow(FailedPreconditionError);
    expect(() => store.commitActive('v', '', noUsage, undefined, t0)).toThrow(InvalidArgumentError);
    expect(store.getInfo('v').info.kind).toBe('view');
  });
});

describe('getSnapshot', () => {
  it('serves active snapshots and views, not committed ones', () => {
    chain();
    store.createSnapshot('view', 'v', 'c2', undefined, t0);
    expect(store.getSnapshot('v').kind).toBe('view');
    expect(() => store.getSnapshot('c2')).toThrow(FailedPreconditionError);
    expect(() => store.getSnapshot('nope')).toThrow(NotFoundError);
  });
});

describe('remove', () => {
  it('refuses a snapshot with children, then frees it once they are gone', () => {
    chain();
    store.createSnapshot('view', 'v', 'c2', undefined, t0);
    expect(() => store.remove('c1')).toThrow(FailedPreconditionError);
    expect(() => store.remove('c2')).toThrow(FailedPreconditionError);
    const v = store.getInfo('v').id;
    expect(store.remove('v')).toEqual({ id: v, kind: 'view' });
    store.remove('c2');
    store.remove('c1');
    expect(store.list()).toEqual([]);
    expect(store.ids().size).toBe(0);
  });

  it('says NotFound for an unknown key', () => {
    expect(() => store.remove('nope')).toThrow(NotFoundError);
  });

  it('drops the labels with the snapshot', () => {
    store.createSnapshot('active', 'a', '', { l: '1' }, t0);
    store.remove('a');
    store.createSnapshot('active', 'a', '', undefined, t0);
    expect(store.getInfo('a').info.labels).toEqual({});
  });
});

describe('updateInfo', () => {
  beforeEach(() => {
    store.createSnapshot('active', 'a', '', { l1: 'v1', l2: 'v2', keep: 'k' }, t0);
  });

  it('replaces every label without field paths, and moves only the update time', () => {
    const info = store.updateInfo({ name: 'a', parent: 'ignored', labels: { n: '1' } }, [], t2);
    expect(info).toEqual({ kind: 'active', name: 'a', parent: '', labels: { n: '1' }, created: t0, updated: t2 });
    expect(store.getInfo('a').info).toEqual(info);
  });

  it('sets single labels with labels.<key>; an absent or empty value removes the label', () => {
    const info = store.updateInfo({ name: 'a', labels: { l1: 'updated', l4: 'v4', keep: '' } }, ['labels.l1', 'labels.l2', 'labels.keep'], t1);
    expect(info.labels).toEqual({ l1: 'updated' });
  });

  it('replaces every label with the labels path', () => {
    expect(store.updateInfo({ name: 'a', labels: { x: 'y' } }, ['labels'], t1).labels).toEqual({ x: 'y' });
  });

  it('refuses any other field path, changing nothing', () => {
    expect(() => store.updateInfo({ name: 'a', labels: {} }, ['labels', 'parent'], t1)).toThrow(InvalidArgumentError);
    expect(store.getInfo('a').info).toMatchObject({ labels: { l1: 'v1', l2: 'v2', keep: 'k' }, updated: t0 });
  });

  it('says NotFound for an unknown snapshot', () => {
    expect(() => store.updateInfo({ name: 'b', labels: {} }, [], t1)).toThrow(NotFoundError);
  });
});

describe('list', () => {
  it('lists every snapshot in byte order of its name, with parents and labels', () => {
    chain();
    store.createSnapshot('view', 'B', 'c2', { x: '1' }, t0);
    store.createSnapshot('active', 'a', '', undefined, t0);
    store.createSnapshot('active', 'é', '', undefined, t0);
    expect(store.list().map((s) => [s.info.name, s.info.kind, s.info.parent, s.info.labels])).toEqual([
      ['B', 'view', 'c2', { x: '1' }],
      ['a', 'active', '', {}],
      ['c1', 'committed', '', {}],
      ['c2', 'committed', 'c1', {}],
      ['é', 'active', '', {}],
    ]);
    expect(store.ids()).toEqual(new Set(store.list().map((s) => s.id)));
  });
});

describe('transaction', () => {
  it('rolls back everything when the function throws', () => {
    expect(() => store.transaction(() => {
      store.createSnapshot('active', 'a', '', undefined, t0);
      store.commitActive('a', 'c', noUsage, undefined, t0);
      throw new Error('directory step failed');
    })).toThrow('directory step failed');
    expect(store.list()).toEqual([]);
  });
});

describe('persistence', () => {
  it('keeps everything across a reopen', () => {
    chain();
    store.createSnapshot('active', 'a', 'c2', { l: '1' }, t1);
    const before = store.list();
    store.close();
    store.close(); // closing twice is harmless
    store = openMetadataStore(join(dir, 'metadata.db'));
    expect(store.list()).toEqual(before);
    expect(store.getInfo('c1').usage).toEqual({ size: 4096, inodes: 1 });
  });
});
