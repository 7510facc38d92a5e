import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ContentCreateSchema, ContentDeleteSchema } from '@flotilla/proto/containerd/events/content_pb';
import type { Envelope } from '@flotilla/proto/containerd/types/event_pb';
import { AlreadyExistsError, NotFoundError } from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import { createLocalStore, type LocalContentStore } from '@flotilla/service-content';
import { openMetadata, type Db } from './db.js';
import { createLeaseStore } from './leases.js';
import { createNamespacedContent, type NamespacedContent } from './content.js';
import { createExchange } from '../events/exchange.js';
import { createRwLock } from '../gc/rw-lock.js';

const log = createLogger({ service: 'test', level: 'silent' });
let dir: string;
let db: Db;
let backend: LocalContentStore;
let content: NamespacedContent;
let seen: Envelope[];
let stop: AbortController;
let deletions: number;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ns-content-'));
  db = openMetadata(join(dir, 'meta.db'));
  backend = await createLocalStore({ root: join(dir, 'content'), log });
  const events = createExchange(log);
  seen = [];
  stop = new AbortController();
  void (async () => { for await (const e of events.subscribe(stop.signal)) seen.push(e); })();
  deletions = 0;
  content = createNamespacedContent({ db, backend, leases: createLeaseStore(db), events, lock: createRwLock(), onDelete: () => { deletions++; } });
});
afterEach(() => {
  stop.abort();
  backend.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const flush = () => new Promise((r) => setImmediate(r));

describe('namespaced content', () => {
  it('reports a resumed ingest as started when the client first opened it, not when the backend got to it', async () => {
    // The client hears of a new ingest before the content process has made it (see writer): a backend that
    // takes its time makes the gap plain.
    const slow = { ...backend, writer: async (o: Parameters<LocalContentStore['writer']>[0]) => { await new Promise((r) => setTimeout(r, 50)); return backend.writer(o); } };
    const ns = createNamespacedContent({ db, backend: slow, leases: createLeaseStore(db), events: createExchange(log), lock: createRwLock(), onDelete: () => {} });
    const cs = ns.store('resume');
    const before = Date.now();
    const w1 = await cs.writer({ ref: 'r', total: 4 });
    const opened = Date.now();
    await w1.write(Buffer.from('ab'));
    await w1.close();
    const w2 = await cs.writer({ ref: 'r', total: 4 });
    const st = await w2.status();
    expect(st.offset).toBe(2);
    expect(st.startedAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(st.startedAt.getTime()).toBeLessThanOrEqual(opened);
    expect((await cs.status('r')).startedAt).toEqual(st.startedAt);
    await w2.close();
  });

  it('answers a client polling its ingests itself while one of them commits', async () => {
    let backendLists = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let committing!: () => void;
    const inCommit = new Promise<void>((r) => { committing = r; });
    const gated = {
      ...backend,
      listStatuses: (f?: readonly string[]) => { backendLists++; return backend.listStatuses(f); },
      writer: async (o: Parameters<LocalContentStore['writer']>[0]) => {
        const w = await backend.writer(o);
        return { ...w, commit: async (...a: Parameters<typeof w.commit>) => { committing(); await gate; return w.commit(...a); } };
      },
    };
    const polled = createNamespacedContent({ db, backend: gated, leases: createLeaseStore(db), events: createExchange(log), lock: createRwLock(), onDelete: () => {} });
    const cs = polled.store('poll');
    const data = Buffer.from('a layer, being committed');
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const w = await cs.writer({ ref: 'layer-1', total: data.length, expected: digest });
    await w.write(data);
    const commit = w.commit(data.length, digest);
    await inCommit;
    const during = await cs.listStatuses();
    expect(during.map((st) => [st.ref, st.offset, st.total])).toEqual([['layer-1', data.length, data.length]]);
    expect(backendLists).toBe(0);
    release();
    await commit;
    expect(await cs.listStatuses()).toEqual([]);
  });

  it('keeps a small blob it committed, so reading it back costs no backend read', async () => {
    let reads = 0;
    const counting = { ...backend, read: (d: string, o?: { offset?: number; size?: number }) => { reads++; return backend.read(d, o); } };
    const cached = createNamespacedContent({ db, backend: counting, leases: createLeaseStore(db), events: createExchange(log), lock: createRwLock(), onDelete: () => {} });
    const cs = cached.store('small');
    const read = async (d: string) => { const parts: Uint8Array[] = []; for await (const p of cs.read(d)) parts.push(p); return Buffer.concat(parts); };
    const put = async (ref: string, pieces: Buffer[], truncateFirst = false) => {
      const data = Buffer.concat(pieces);
      const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
      const w = await cs.writer({ ref, total: data.length, expected: digest });
      if (truncateFirst) { await w.write(Buffer.from('junk')); await w.truncate(0); }
      for (const p of pieces) await w.write(p);
      await w.commit(data.length, digest);
      return { digest, data };
    };
    // Written in two pieces, the second from a buffer the caller reuses afterwards.
    const second = Buffer.from('"layers":[]}');
    const manifest = await put('manifest', [Buffer.from('{"schemaVersion":2,'), second]);
    second.fill(0);
    expect(await read(manifest.digest)).toEqual(manifest.data);
    expect(reads).toBe(0);
    // An ingest that started over is not known whole here: read from the backend (once, then cached).
    const redone = await put('redone', [Buffer.from('config')], true);
    expect(await read(redone.digest)).toEqual(redone.data);
    expect(reads).toBe(1);
  });

  it('publishes containerd\'s events on commit and delete, and asks for a collection after a delete', async () => {
    const data = Buffer.from('event me');
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const cs = content.store('evt');
    const w = await cs.writer({ ref: 'e', total: data.length, expected: digest });
    await w.write(data);
    await w.commit(data.length, digest);
    await cs.delete(digest);
    await flush();
    expect(seen.map((e) => [e.namespace, e.topic, e.event?.typeUrl])).toEqual([
      ['evt', '/content/create', 'containerd.events.ContentCreate'],
      ['evt', '/content/delete', 'containerd.events.ContentDelete'],
    ]);
    expect(fromBinary(ContentCreateSchema, seen[0]!.event!.value)).toMatchObject({ digest, size: BigInt(data.length) });
    expect(fromBinary(ContentDeleteSchema, seen[1]!.event!.value)).toMatchObject({ digest });
    expect(deletions).toBe(1);
    await expect(cs.delete(digest)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('lists a namespace\'s own ingests: those it is writing from its writers, the others from one listing of the backend', async () => {
    const a = content.store('a');
    const b = content.store('b');
    const writers = [await a.writer({ ref: 'one', total: 10 }), await a.writer({ ref: 'two', total: 10 }), await b.writer({ ref: 'one', total: 10 })];
    await writers[0]!.write(Buffer.from('12345'));
    await writers[2]!.write(Buffer.from('123'));
    let listings = 0;
    let statuses = 0;
    const list = backend.listStatuses.bind(backend);
    const status = backend.status.bind(backend);
    backend.listStatuses = (...args) => { listings++; return list(...args); };
    backend.status = (...args) => { statuses++; return status(...args); };
    const check = async () => {
      const all = await a.listStatuses();
      expect(all.map((s) => [s.ref, s.offset, s.total]).sort()).toEqual([['one', 5, 10], ['two', 0, 10]]);
      expect(await a.listStatuses(['ref==two'])).toMatchObject([{ ref: 'two', offset: 0 }]);
      expect((await b.listStatuses()).map((s) => [s.ref, s.offset])).toEqual([['one', 3]]);
      expect(await a.status('one')).toMatchObject({ ref: 'one', offset: 5, total: 10 });
      expect(await content.store('empty').listStatuses()).toEqual([]);
    };
    // Open here: answered by the writers, the content process is not asked.
    await check();
    expect([listings, statuses]).toEqual([0, 0]);
    // Closed (to be resumed later): from the backend, one listing per call.
    for (const w of writers) await w.close();
    await check();
    expect([listings, statuses]).toEqual([3, 1]);
  });

  it('answers AlreadyExists for a blob the namespace holds, and publishes nothing for it', async () => {
    const data = Buffer.from('twice');
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const cs = content.store('n');
    const w = await cs.writer({ ref: 'a', total: data.length, expected: digest });
    await w.write(data);
    await w.commit(data.length, digest);
    await expect(cs.writer({ ref: 'b', total: data.length, expected: digest })).rejects.toBeInstanceOf(AlreadyExistsError);
    await flush();
    expect(seen.map((e) => e.topic)).toEqual(['/content/create']);
  });

  it('answers a new ingest before the backend has made it, and every later step waits for the backend', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const open = backend.writer.bind(backend);
    let opened = 0;
    backend.writer = async (o) => { await gate; opened++; return open(o); };
    const data = Buffer.from('pipelined');
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const cs = content.store('p');
    const w = await cs.writer({ ref: 'r', total: data.length, expected: digest });
    // Answered while the backend is still making its ingest: an empty one, as it will be.
    expect(opened).toBe(0);
    expect(await w.status()).toMatchObject({ ref: 'r', offset: 0, total: data.length });
    expect(w.digest()).toBe(`sha256:${createHash('sha256').digest('hex')}`);
    const statusSeen = cs.status('r');
    const listed = cs.listStatuses();
    const written = w.write(data);
    await flush();
    expect(opened).toBe(0);
    release();
    await written;
    expect((await statusSeen).offset).toBe(0);
    expect((await listed).map((st) => st.ref)).toEqual(['r']);
    expect((await w.status()).offset).toBe(data.length);
    await w.commit(data.length, digest);
    expect((await cs.info(digest)).size).toBe(data.length);
    await w.close();
  });

  it('reports a backend that could not make the ingest on the next step, with its error class', async () => {
    backend.writer = async () => { throw new NotFoundError('no such backend ingest'); };
    const cs = content.store('f');
    const w = await cs.writer({ ref: 'r', total: 3 });
    await expect(w.write(Buffer.from('abc'))).rejects.toBeInstanceOf(NotFoundError);
    await expect(w.status()).rejects.toBeInstanceOf(NotFoundError);
    await expect(w.commit(3, '')).rejects.toBeInstanceOf(NotFoundError);
    await w.close();
  });

  it('asks the backend about an expected blob only when some namespace holds it', async () => {
    const data = Buffer.from('shared bytes');
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    let infos = 0;
    const info = backend.info.bind(backend);
    backend.info = (d) => { infos++; return info(d); };
    const a = content.store('a');
    const wa = await a.writer({ ref: 'x', total: data.length, expected: digest });
    expect(infos).toBe(0);
    await wa.write(data);
    await wa.commit(data.length, digest);
    // Namespace a holds it now: b takes it from the backend without writing it (containerd's shared policy).
    const b = content.store('b');
    const wb = await b.writer({ ref: 'y', total: data.length, expected: digest });
    expect(infos).toBe(1);
    expect((await wb.status()).offset).toBe(data.length);
    await wb.commit(data.length, digest);
    expect((await b.info(digest)).size).toBe(data.length);
  });

  it('records ingests outside the synced changes, and commits inside them', async () => {
    const calls: string[] = [];
    const changes = db.prepare('SELECT total_changes()').pluck();
    const c2 = createNamespacedContent({
      db, backend, leases: createLeaseStore(db), events: createExchange(log), lock: createRwLock(), onDelete: () => {},
      unsynced: (fn) => { const before = changes.get() as number; const r = fn(); calls.push(`unsynced:${(changes.get() as number) - before}`); return r; },
    });
    const data = Buffer.from('sync me');
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const cs = c2.store('s');
    const w = await cs.writer({ ref: 'r', total: data.length, expected: digest });
    expect(calls).toEqual(['unsynced:2']);
    await w.write(data);
    await w.commit(data.length, digest);
    expect(calls).toEqual(['unsynced:2']);
    await expect(cs.info(digest)).resolves.toMatchObject({ size: data.length });
  });
});
