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

  it('lists a namespace\'s own ingests, filtered by ref, from one listing of the backend', async () => {
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
    const all = await a.listStatuses();
    expect(all.map((s) => [s.ref, s.offset, s.total]).sort()).toEqual([['one', 5, 10], ['two', 0, 10]]);
    expect(await a.listStatuses(['ref==two'])).toMatchObject([{ ref: 'two', offset: 0 }]);
    expect((await b.listStatuses()).map((s) => [s.ref, s.offset])).toEqual([['one', 3]]);
    expect(await content.store('empty').listStatuses()).toEqual([]);
    expect([listings, statuses]).toEqual([3, 0]);
    for (const w of writers) await w.close();
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
});
