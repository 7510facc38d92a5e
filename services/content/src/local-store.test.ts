import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  OutOfRangeError,
  UnavailableError,
} from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import { createLocalStore, type LocalContentStore } from './local-store.js';
import type { ContentStore, Info } from './store.js';

const log = createLogger({ service: 'test', level: 'silent' });
const sha = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let dir: string;
let store: LocalContentStore;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'content-'));
  store = await createLocalStore({ root: dir, log });
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function put(s: ContentStore, ref: string, data: string | Uint8Array, labels?: Record<string, string>): Promise<string> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const w = await s.writer({ ref, total: bytes.length, expected: sha(bytes) });
  await w.write(bytes);
  await w.commit(bytes.length, sha(bytes), labels ? { labels } : undefined);
  return sha(bytes);
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const blobs = () => (existsSync(join(dir, 'blobs', 'sha256')) ? readdirSync(join(dir, 'blobs', 'sha256')) : []);

describe('writer and commit', () => {
  it('publishes a verified blob read-only under blobs/sha256 and removes the ingest', async () => {
    const w = await store.writer({ ref: 'r1' });
    await w.write(Buffer.from('hello '));
    await w.write(Buffer.from('world'));
    expect(w.digest()).toBe(sha('hello world'));
    expect((await w.status()).offset).toBe(11);
    await w.commit(11, sha('hello world'));
    const path = join(dir, 'blobs', 'sha256', sha('hello world').slice(7));
    expect(readFileSync(path, 'utf8')).toBe('hello world');
    expect(statSync(path).mode & 0o777).toBe(0o444);
    expect(readdirSync(join(dir, 'ingest'))).toEqual([]);
    const info = await store.info(sha('hello world'));
    expect(info).toMatchObject({ digest: sha('hello world'), size: 11, labels: {} });
    await expect(store.status('r1')).rejects.toThrow(NotFoundError);
  });

  it('keeps the ingest and publishes nothing when size or digest do not match', async () => {
    const w = await store.writer({ ref: 'bad' });
    await w.write(Buffer.from('abc'));
    const err = await w.commit(4, '').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toBe('unexpected commit size 3, expected 4: failed precondition');
    expect(blobs()).toEqual([]);
    // Commit closed the writer and released the ref; the ingest is still there to retry.
    expect((await store.status('bad')).offset).toBe(3);
    const w2 = await store.writer({ ref: 'bad' });
    const err2 = await w2.commit(3, sha('abd')).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(FailedPreconditionError);
    expect((err2 as Error).message).toBe(`unexpected commit digest ${sha('abc')}, expected ${sha('abd')}: failed precondition`);
    expect(blobs()).toEqual([]);
    await store.abort('bad');
    await expect(store.status('bad')).rejects.toThrow(NotFoundError);
  });

  it('refuses a commit of a blob that exists, and drops the ingest', async () => {
    const d = await put(store, 'a', 'same');
    const w = await store.writer({ ref: 'b' });
    await w.write(Buffer.from('same'));
    const err = await w.commit(4, '').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AlreadyExistsError);
    expect((err as Error).message).toBe(`content ${d}: already exists`);
    await expect(store.status('b')).rejects.toThrow(NotFoundError);
    // A writer announcing an existing digest is refused up front.
    await expect(store.writer({ ref: 'c', expected: d })).rejects.toThrow(AlreadyExistsError);
    // ...and the ref is not left locked by the refusal.
    await (await store.writer({ ref: 'c' })).close();
  });

  it('allows one writer per ref at a time', async () => {
    const w = await store.writer({ ref: 'locked' });
    const err = await store.writer({ ref: 'locked' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(/^ref locked locked for \S+ \(since .+\): unavailable$/);
    await w.close();
    await (await store.writer({ ref: 'locked' })).close();
    await expect(store.writer({ ref: '' })).rejects.toThrow(InvalidArgumentError);
  });

  it('resumes an ingest after its writer closed, hashing what is there', async () => {
    const w = await store.writer({ ref: 'resume', total: 10 });
    await w.write(Buffer.from('01234'));
    await w.close();
    await w.close(); // closing twice is fine
    const st = await store.status('resume');
    expect(st).toMatchObject({ ref: 'resume', offset: 5, total: 10 });
    expect(st.startedAt.getTime()).toBeLessThanOrEqual(st.updatedAt.getTime());
    const w2 = await store.writer({ ref: 'resume' });
    expect(await w2.status()).toMatchObject({ offset: 5, total: 10 });
    expect(w2.digest()).toBe(sha('01234'));
    await w2.write(Buffer.from('56789'));
    await w2.commit(10, sha('0123456789'));
    expect((await store.info(sha('0123456789'))).size).toBe(10);
  });

  it('resumes an ingest across a restart of the store', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    const w = await store.writer({ ref: 'restart' });
    await w.write(big.subarray(0, 2 * 1024 * 1024));
    await w.close();
    store.close();
    store = await createLocalStore({ root: dir, log });
    expect((await store.listStatuses()).map((s) => [s.ref, s.offset])).toEqual([['restart', 2 * 1024 * 1024]]);
    const w2 = await store.writer({ ref: 'restart', expected: sha(big) });
    expect((await w2.status()).offset).toBe(2 * 1024 * 1024);
    await w2.write(big.subarray(2 * 1024 * 1024));
    expect(w2.digest()).toBe(sha(big));
    await w2.commit(big.length, sha(big));
    expect((await store.info(sha(big))).size).toBe(big.length);
  });

  it('truncates to start over, or to an earlier point', async () => {
    const w = await store.writer({ ref: 't' });
    await w.write(Buffer.from('garbage'));
    await w.truncate(0);
    expect(w.digest()).toBe(sha(''));
    await w.write(Buffer.from('good!'));
    await w.truncate(4);
    expect(w.digest()).toBe(sha('good'));
    await expect(w.truncate(10)).rejects.toThrow(InvalidArgumentError);
    await w.commit(4, sha('good'));
    expect(readFileSync(join(dir, 'blobs', 'sha256', sha('good').slice(7)), 'utf8')).toBe('good');
  });

  it('commits with labels and refuses oversized ones without publishing', async () => {
    const d = await put(store, 'l', 'labelled', { a: '1', 'containerd.io/gc.ref.content.x': sha('x') });
    expect((await store.info(d)).labels).toEqual({ a: '1', 'containerd.io/gc.ref.content.x': sha('x') });
    const w = await store.writer({ ref: 'big-label' });
    await w.write(Buffer.from('x'));
    await expect(w.commit(1, '', { labels: { k: 'v'.repeat(4096) } })).rejects.toThrow(InvalidArgumentError);
    await expect(store.info(sha('x'))).rejects.toThrow(NotFoundError);
  });

  it('hashes with the expected digest algorithm', async () => {
    const expected = `sha512:${createHash('sha512').update('five!').digest('hex')}`;
    const w = await store.writer({ ref: '512', expected });
    await w.write(Buffer.from('five!'));
    expect(w.digest()).toBe(expected);
    await w.commit(5, expected);
    expect((await store.info(expected)).size).toBe(5);
    expect((await collect(store.list())).map((i) => i.digest)).toEqual([expected]);
  });
});

describe('labels', () => {
  it('replace all, set one, remove one, and reject other fields', async () => {
    const d = await put(store, 'u', 'update me', { keep: 'k', drop: 'd' });
    const created = (await store.info(d)).createdAt;
    let info: Info = await store.update({ digest: d, labels: { x: '1', y: '2' } });
    expect(info.labels).toEqual({ x: '1', y: '2' });
    expect(info.createdAt).toEqual(created);
    expect(info.updatedAt.getTime()).toBeGreaterThanOrEqual(created.getTime());
    info = await store.update({ digest: d, labels: { z: '3', x: 'ignored' } }, ['labels.z']);
    expect(info.labels).toEqual({ x: '1', y: '2', z: '3' });
    info = await store.update({ digest: d, labels: {} }, ['labels.x']);
    expect(info.labels).toEqual({ y: '2', z: '3' });
    info = await store.update({ digest: d, labels: { only: 'this' } }, ['labels']);
    expect(info.labels).toEqual({ only: 'this' });
    expect((await store.info(d)).labels).toEqual({ only: 'this' });
    expect((await store.info(d)).updatedAt).toEqual(info.updatedAt);
    await expect(store.update({ digest: d, labels: {} }, ['size'])).rejects.toThrow(InvalidArgumentError);
    await expect(store.update({ digest: d, labels: { k: 'v'.repeat(4100) } }, ['labels.k'])).rejects.toThrow(/greater than maximum size \(4096 bytes\)/);
    await expect(store.update({ digest: sha('nope'), labels: {} })).rejects.toThrow(NotFoundError);
    await expect(store.update({ digest: 'nope', labels: {} })).rejects.toThrow(InvalidArgumentError);
  });

  it('survive a restart and go with the blob', async () => {
    const d = await put(store, 'p', 'persist', { a: 'b' });
    store.close();
    store = await createLocalStore({ root: dir, log });
    expect((await store.info(d)).labels).toEqual({ a: 'b' });
    await store.delete(d);
    await put(store, 'p2', 'persist');
    expect((await store.info(d)).labels).toEqual({});
  });
});

describe('list', () => {
  it('filters by digest and labels as containerd does (size is never a match)', async () => {
    const a = await put(store, 'a', 'aaa', { team: 'one', 'dotted.key': 'v' });
    const b = await put(store, 'b', 'bbb', { team: 'two' });
    const c = await put(store, 'c', 'ccc');
    const digests = async (...filters: string[]) => (await collect(store.list(filters))).map((i) => i.digest).sort();
    expect(await digests()).toEqual([a, b, c].sort());
    expect(await digests(`digest==${b}`)).toEqual([b]);
    expect(await digests('labels.team==one')).toEqual([a]);
    expect(await digests('labels.team')).toEqual([a, b].sort());
    expect(await digests('labels.team==one', 'labels.team==two')).toEqual([a, b].sort());
    expect(await digests('labels."dotted.key"==v')).toEqual([a]);
    expect(await digests('labels.team!=one')).toEqual([b, c].sort());
    expect(await digests('labels.team~=^t')).toEqual([b]);
    expect(await digests('size==3')).toEqual([]);
    await expect(collect(store.list(['labels.team=='] ))).rejects.toThrow(InvalidArgumentError);
    const one = (await collect(store.list([`digest==${a}`])))[0]!;
    expect(one).toMatchObject({ digest: a, size: 3, labels: { team: 'one', 'dotted.key': 'v' } });
  });
});

describe('read', () => {
  it('reads ranges in chunks and refuses unknown digests and offsets past the end', async () => {
    const data = Buffer.alloc(2.5 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    const d = await put(store, 'r', data);
    const all = await collect(store.read(d));
    expect(all.map((c) => c.length)).toEqual([1 << 20, 1 << 20, data.length - 2 * (1 << 20)]);
    expect(Buffer.concat(all).equals(data)).toBe(true);
    expect(Buffer.concat(await collect(store.read(d, { offset: 10, size: 20 }))).equals(data.subarray(10, 30))).toBe(true);
    expect(Buffer.concat(await collect(store.read(d, { offset: data.length - 5, size: 100 }))).equals(data.subarray(-5))).toBe(true);
    expect(await collect(store.read(d, { offset: data.length }))).toEqual([]);
    await expect(collect(store.read(d, { offset: data.length + 1 }))).rejects.toThrow(OutOfRangeError);
    await expect(collect(store.read(sha('missing')))).rejects.toThrow(NotFoundError);
    await expect(collect(store.read('sha256:short'))).rejects.toThrow(InvalidArgumentError);
  });
});

describe('ingests', () => {
  it('lists statuses with ref filters, aborts, and reports unknown refs', async () => {
    const w1 = await store.writer({ ref: 'layer-1', total: 3 });
    await w1.write(Buffer.from('abc'));
    const w2 = await store.writer({ ref: 'config' });
    await w2.close();
    const refs = async (...f: string[]) => (await store.listStatuses(f)).map((s) => s.ref).sort();
    expect(await refs()).toEqual(['config', 'layer-1']);
    expect(await refs('ref==config')).toEqual(['config']);
    expect(await refs('ref~=^layer-')).toEqual(['layer-1']);
    expect(await store.status('layer-1')).toMatchObject({ ref: 'layer-1', offset: 3, total: 3 });
    await w1.close();
    await store.abort('layer-1');
    expect(await refs()).toEqual(['config']);
    await expect(store.abort('layer-1')).rejects.toThrow(NotFoundError);
    await expect(store.status('nope')).rejects.toThrow(NotFoundError);
  });

  it('reports an open writer as its files will once it is closed, and forgets it once committed', async () => {
    const data = Buffer.from('hello, ingest');
    const w = await store.writer({ ref: 'open', total: data.length, expected: sha(data) });
    await w.write(data.subarray(0, 5));
    const whileOpen = await store.status('open');
    expect((await store.listStatuses(['ref==open']))[0]).toEqual(whileOpen);
    await w.close();
    const fromFiles = await store.status('open');
    const { updatedAt: _a, ...open } = whileOpen;
    const { updatedAt: _b, ...closed } = fromFiles;
    expect(open).toEqual(closed);
    expect(closed).toMatchObject({ ref: 'open', offset: 5, total: data.length, expected: '' });

    const again = await store.writer({ ref: 'open', total: data.length, expected: sha(data) });
    await again.write(data.subarray(5));
    expect((await store.status('open')).offset).toBe(data.length);
    await again.commit(data.length, sha(data));
    await expect(store.status('open')).rejects.toThrow(NotFoundError);
    expect(await store.listStatuses()).toEqual([]);

    // Aborted under an open writer: gone, whatever the writer still holds.
    const held = await store.writer({ ref: 'aborted' });
    await held.write(data);
    await store.abort('aborted');
    await expect(store.status('aborted')).rejects.toThrow(NotFoundError);
    await held.close();
  });
});

describe('delete', () => {
  it('removes the blob and reports unknown ones', async () => {
    const d = await put(store, 'd', 'delete me');
    await store.delete(d);
    expect(blobs()).toEqual([]);
    await expect(store.info(d)).rejects.toThrow(NotFoundError);
    await expect(store.delete(d)).rejects.toThrow(NotFoundError);
    await expect(store.delete('md5:abc')).rejects.toThrow(InvalidArgumentError);
  });
});
