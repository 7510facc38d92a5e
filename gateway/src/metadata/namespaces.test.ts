import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, NotImplementedError } from '@flotilla/errdefs';
import { openMetadata, type Db } from './db.js';
import { createNamespaceStore, type NamespaceStore } from './namespaces.js';
import { createLeaseStore } from './leases.js';

let dir: string;
let db: Db;
let store: NamespaceStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ns-store-'));
  db = openMetadata(join(dir, 'meta.db'));
  store = createNamespaceStore(db);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('namespace store', () => {
  it('creates, lists in name order and refuses duplicates and bad names', () => {
    store.create('b', { x: '1' });
    store.create('a', {});
    expect(store.list()).toEqual([{ name: 'a', labels: {} }, { name: 'b', labels: { x: '1' } }]);
    expect(() => store.create('a', {})).toThrow(AlreadyExistsError);
    expect(() => store.create('no spaces', {})).toThrow(InvalidArgumentError);
    expect(() => store.create('ok', { k: 'v'.repeat(5000) })).toThrow(InvalidArgumentError);
  });

  it('sets, removes and replaces labels', () => {
    store.create('n', { a: '1', b: '2' });
    store.setLabel('n', 'c', '3');
    store.setLabel('n', 'a', '');
    expect(store.get('n').labels).toEqual({ b: '2', c: '3' });
    store.replaceLabels('n', { z: '9' });
    expect(store.get('n').labels).toEqual({ z: '9' });
  });

  it('deletes, and refuses what is unknown or still holds objects', () => {
    store.create('n', {});
    let held = true;
    store.addHolder({ kind: 'images', holds: (ns) => ns === 'n' && held });
    store.addHolder({ kind: 'containers', holds: (ns) => ns === 'n' && held });
    expect(() => store.delete('n')).toThrow(FailedPreconditionError);
    expect(() => store.delete('n')).toThrow(/must be empty, but it still has images, containers/);
    held = false;
    store.delete('n');
    expect(store.list()).toEqual([]);
    expect(() => store.delete('n')).toThrow(NotFoundError);
  });

  it('takes leases and labels with a deleted namespace, and keeps data across reopen', () => {
    const leases = createLeaseStore(db);
    leases.create('n', 'l1', { k: 'v' });
    leases.addResource('n', 'l1', { type: 'content', id: 'sha256:' + 'a'.repeat(64) });
    expect(store.list().map((n) => n.name)).toEqual(['n']);
    db.close();
    db = openMetadata(join(dir, 'meta.db'));
    store = createNamespaceStore(db);
    expect(createLeaseStore(db).list('n').map((l) => l.id)).toEqual(['l1']);
    store.delete('n');
    expect(createLeaseStore(db).list('n')).toEqual([]);
    expect(db.prepare('SELECT count(*) FROM lease_resources').pluck().get()).toBe(0);
  });
});

describe('lease store', () => {
  it('validates resources the way containerd parses them', () => {
    const leases = createLeaseStore(db);
    leases.create('n', 'l', {});
    expect(() => leases.addResource('n', 'l', { type: 'content', id: 'nope' })).toThrow(InvalidArgumentError);
    expect(() => leases.addResource('n', 'l', { type: 'snapshots', id: 'k' })).toThrow(InvalidArgumentError);
    expect(() => leases.addResource('n', 'l', { type: 'pets', id: 'k' })).toThrow(NotImplementedError);
    expect(() => leases.addResource('n', 'l', { type: 'content/x', id: 'sha256:' + 'a'.repeat(64) })).toThrow(InvalidArgumentError);
    expect(() => leases.addResource('n', 'l', { type: 'snapshots/a/b', id: 'k' })).toThrow(InvalidArgumentError);
    expect(() => leases.addResource('n', 'missing', { type: 'ingests', id: 'r' })).toThrow(NotFoundError);
    leases.addResource('n', 'l', { type: 'snapshots/overlayfs', id: 'k' });
    leases.addResource('n', 'l', { type: 'ingests', id: 'ref' });
    expect(leases.listResources('n', 'l')).toEqual([{ type: 'ingests', id: 'ref' }, { type: 'snapshots/overlayfs', id: 'k' }]);
    leases.deleteResource('n', 'l', { type: 'ingests', id: 'ref' });
    expect(leases.listResources('n', 'l')).toEqual([{ type: 'snapshots/overlayfs', id: 'k' }]);
    expect(() => leases.create('n', 'l', {})).toThrow(AlreadyExistsError);
  });
});
