import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMetadata, type Db } from './db.js';
import { createDurability, WAL_PREALLOCATED_BYTES, type Durability } from './durability.js';

describe('durability (group commit of the metadata WAL)', () => {
  let dir: string;
  let db: Db;
  let durability: Durability | undefined;
  let syncs: number;
  let gate: Promise<void> | undefined;

  const open = () => {
    durability = createDurability(db, join(dir, 'meta.db'), {
      fdatasync: async () => {
        syncs++;
        await gate;
      },
    });
    return durability;
  };
  const createNamespace = (name: string) => db.prepare('INSERT INTO namespaces (name, created_at, updated_at) VALUES (?, 0, 0)').run(name);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'durability-'));
    db = openMetadata(join(dir, 'meta.db'));
    syncs = 0;
    gate = undefined;
  });
  afterEach(async () => {
    await durability?.close();
    durability = undefined;
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has nothing to wait for until something is committed', async () => {
    const d = open();
    expect(d.settle()).toBeUndefined();
    db.prepare('SELECT * FROM namespaces').all();
    expect(d.settle()).toBeUndefined();
    expect(syncs).toBe(0);
  });

  it('syncs the WAL once after a commit, and not again for the same changes', async () => {
    const d = open();
    createNamespace('a');
    const wait = d.settle();
    expect(wait).toBeInstanceOf(Promise);
    await wait;
    expect(syncs).toBe(1);
    expect(d.settle()).toBeUndefined();
  });

  it('lets concurrent answers share one sync, and makes a commit that arrives mid-sync wait for the next', async () => {
    const d = open();
    let release!: () => void;
    gate = new Promise<void>((r) => { release = r; });
    createNamespace('a');
    const first = d.settle();
    const second = d.settle();
    createNamespace('b'); // committed while the first sync runs: that sync may not cover it
    const third = d.settle();
    let thirdDone = false;
    void third?.then(() => { thirdDone = true; });
    expect(syncs).toBe(1);
    gate = undefined;
    release();
    await Promise.all([first, second]);
    await third;
    expect(thirdDone).toBe(true);
    expect(syncs).toBe(2);
    expect(d.settle()).toBeUndefined();
  });

  it('syncs changes nobody waited for on its own', async () => {
    durability = createDurability(db, join(dir, 'meta.db'), { idleFlushMs: 20, fdatasync: async () => { syncs++; } });
    createNamespace('gc-sweep');
    const end = Date.now() + 5000;
    while (syncs === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    expect(syncs).toBe(1);
    expect(durability.settle()).toBeUndefined();
  });

  it('answers after unsynced() changes without a sync, and syncs them with the next change that needs one', async () => {
    const d = open();
    d.unsynced(() => createNamespace('ingest-record'));
    expect(d.settle()).toBeUndefined();
    expect(syncs).toBe(0);
    createNamespace('committed');
    await d.settle();
    expect(syncs).toBe(1);
    expect(d.settle()).toBeUndefined();
  });

  it('still makes an answer wait for changes pending before an unsynced() one', async () => {
    const d = open();
    createNamespace('pending');
    d.unsynced(() => createNamespace('ingest-record'));
    const wait = d.settle();
    expect(wait).toBeInstanceOf(Promise);
    await wait;
    expect(syncs).toBe(1);
  });

  it('flushes unsynced() changes in the background, and on close', async () => {
    durability = createDurability(db, join(dir, 'meta.db'), { idleFlushMs: 20, fdatasync: async () => { syncs++; } });
    durability.unsynced(() => createNamespace('lazy'));
    const end = Date.now() + 5000;
    while (syncs === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    expect(syncs).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(syncs).toBe(1);
    await durability.close();

    const d = open();
    d.unsynced(() => createNamespace('at-close'));
    await d.close();
    durability = undefined;
    expect(syncs).toBe(2);
  });

  it('really fdatasyncs the WAL file by default', async () => {
    durability = createDurability(db, join(dir, 'meta.db'));
    createNamespace('real');
    await durability.settle();
    expect(durability.settle()).toBeUndefined();
  });

  it('grows a new WAL with zeros, and what SQLite writes over them is recovered after a crash', async () => {
    const walPath = join(dir, 'meta.db-wal');
    durability = createDurability(db, join(dir, 'meta.db'));
    expect(statSync(walPath).size).toBeGreaterThanOrEqual(WAL_PREALLOCATED_BYTES);
    for (const n of ['x', 'y', 'z']) createNamespace(n);
    await durability.settle();
    // The WAL did not grow: its frames went over the zeros.
    expect(statSync(walPath).size).toBe(WAL_PREALLOCATED_BYTES);
    // A crash now: the files as they are on disk, opened by another process's worth of SQLite.
    const copy = mkdtempSync(join(tmpdir(), 'durability-crash-'));
    try {
      copyFileSync(join(dir, 'meta.db'), join(copy, 'meta.db'));
      copyFileSync(walPath, join(copy, 'meta.db-wal'));
      const recovered = openMetadata(join(copy, 'meta.db'));
      try {
        expect(recovered.prepare('SELECT name FROM namespaces ORDER BY name').pluck().all()).toEqual(['x', 'y', 'z']);
      } finally {
        recovered.close();
      }
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('leaves the WAL alone when asked to', () => {
    durability = createDurability(db, join(dir, 'meta.db'), { preallocateBytes: 0 });
    expect(statSync(join(dir, 'meta.db-wal')).size).toBeLessThan(WAL_PREALLOCATED_BYTES);
  });
});
