import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Channel } from 'nice-grpc';
import { Content, WriteAction } from '@flotilla/proto/containerd/services/content/v1/content_pb';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  OutOfRangeError,
  UnavailableError,
} from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import { createRpcServer, listenUnix, namespaceOf, type RpcServer } from '@flotilla/rpc';
import { clientOf, dialUnix } from '@flotilla/rpc/client';
import { createLocalStore, type LocalContentStore } from './local-store.js';
import { remoteContentStore } from './proxy.js';
import { contentService } from './server.js';
import type { ContentStore } from './store.js';

const log = createLogger({ service: 'test', level: 'silent' });
const sha = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let dir: string;
let local: LocalContentStore;
let server: RpcServer;
let channel: Channel;
let remote: ContentStore;
let remoteGrpc: ContentStore;
const namespaces: (string | undefined)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'content-server-'));
  local = await createLocalStore({ root: join(dir, 'root'), log });
  server = createRpcServer(log);
  contentService((ctx) => {
    namespaces.push(namespaceOf(ctx.metadata));
    return local;
  }).register(server);
  await listenUnix(server, join(dir, 'c.sock'));
  channel = dialUnix(join(dir, 'c.sock'));
  remote = remoteContentStore(channel);
  remoteGrpc = remoteContentStore(channel, { writeTransport: 'grpc' });
});

afterAll(async () => {
  channel?.close();
  await server?.shutdown();
  local?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

// Both ways the proxy writes: a bare HTTP/2 stream (the default on a Unix socket) and gRPC's client.
describe.each([
  ['bare HTTP/2 writes', () => remote, 'auto' as const],
  ['gRPC client writes', () => remoteGrpc, 'grpc' as const],
])('content service through the proxy store, %s', (_name, get, writeTransport) => {
  let remote: ContentStore;
  // A fresh store behind the server for each way of writing, so both start from nothing.
  beforeAll(async () => {
    local.close();
    local = await createLocalStore({ root: join(dir, _name.replaceAll(' ', '-')), log });
    remote = get();
  });

  it('writes, commits, reads and lists a blob', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 5, 'x');
    const w = await remote.writer({ ref: 'rt-1', total: data.length, expected: sha(data) });
    expect(await w.status()).toMatchObject({ ref: 'rt-1', offset: 0, total: data.length });
    for (let i = 0; i < data.length; i += 1 << 20) await w.write(data.subarray(i, i + (1 << 20)));
    expect(w.digest()).toBe(sha(data));
    await w.commit(data.length, sha(data), { labels: { origin: 'test' } });
    const info = await remote.info(sha(data));
    expect(info).toMatchObject({ digest: sha(data), size: data.length, labels: { origin: 'test' } });
    expect(info.createdAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(Buffer.concat(await collect(remote.read(sha(data)))).equals(data)).toBe(true);
    expect(Buffer.concat(await collect(remote.read(sha(data), { offset: 1 << 20, size: 3 }))).toString()).toBe('xxx');
    const listed = await collect(remote.list(['labels.origin==test']));
    expect(listed.map((i) => i.digest)).toEqual([sha(data)]);
    await expect(collect(remote.read(sha(data), { offset: data.length + 1 }))).rejects.toThrow(OutOfRangeError);
  });

  it('lists in blocks of 100 and keeps every blob', async () => {
    for (let i = 0; i < 205; i++) {
      const w = await local.writer({ ref: `many-${i}` });
      await w.write(Buffer.from(`blob ${i}`));
      await w.commit(0, '', { labels: { many: 'yes' } });
    }
    const client = clientOf(Content, channel);
    const blocks = await collect(client.list({ filters: ['labels.many==yes'] }));
    expect(blocks.map((b) => b.info.length)).toEqual([100, 100, 5]);
    expect((await collect(remote.list(['labels.many==yes']))).length).toBe(205);
  });

  it('updates labels and reports what is left', async () => {
    const w = await remote.writer({ ref: 'labels' });
    await w.write(Buffer.from('labels!'));
    await w.commit(0, '', { labels: { a: '1', b: '2' } });
    const d = sha('labels!');
    expect((await remote.update({ digest: d, labels: { c: '3' } }, ['labels.c', 'labels.a'])).labels).toEqual({ b: '2', c: '3' });
    expect((await remote.update({ digest: d, labels: { only: 'x' } })).labels).toEqual({ only: 'x' });
    await expect(remote.update({ digest: d, labels: {} }, ['digest'])).rejects.toThrow(InvalidArgumentError);
    await expect(remote.update({ digest: sha('none'), labels: {} })).rejects.toThrow(NotFoundError);
    await remote.delete(d);
    await expect(remote.info(d)).rejects.toThrow(NotFoundError);
    await expect(remote.delete(d)).rejects.toThrow(NotFoundError);
    await expect(remote.info('sha256:nothex')).rejects.toThrow(/"sha256:nothex" failed validation/);
  });

  it('keeps ingests across writers: status, resume, list, abort', async () => {
    const w = await remote.writer({ ref: 'resumable', total: 8 });
    await w.write(Buffer.from('1234'));
    // The server holds the ref while the stream is open.
    await expect(remote.writer({ ref: 'resumable' })).rejects.toThrow(UnavailableError);
    await w.close();
    expect(await remote.status('resumable')).toMatchObject({ ref: 'resumable', offset: 4, total: 8 });
    expect((await remote.listStatuses(['ref==resumable'])).map((s) => s.offset)).toEqual([4]);
    const w2 = await remote.writer({ ref: 'resumable' });
    // The first STAT tells the offset, and the server's digest of what is there.
    expect((await w2.status()).offset).toBe(4);
    expect(w2.digest()).toBe(sha('1234'));
    await w2.write(Buffer.from('5678'));
    await w2.commit(8, sha('12345678'));
    expect((await remote.info(sha('12345678'))).size).toBe(8);
    await expect(remote.status('resumable')).rejects.toThrow(NotFoundError);

    const w3 = await remote.writer({ ref: 'to-abort' });
    await w3.write(Buffer.from('zzz'));
    await w3.close();
    await remote.abort('to-abort');
    await expect(remote.status('to-abort')).rejects.toThrow(NotFoundError);
    await expect(remote.abort('to-abort')).rejects.toThrow(NotFoundError);
  });

  it('starts over when told to truncate, and reports failed verification without publishing', async () => {
    const w = await remote.writer({ ref: 'restart' });
    await w.write(Buffer.from('wrong'));
    await w.truncate(0);
    await w.write(Buffer.from('right'));
    expect(w.digest()).toBe(sha('right'));
    const err = await w.commit(5, sha('other')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toMatch(/^unexpected commit digest sha256:[0-9a-f]{64}, expected sha256:[0-9a-f]{64}: failed precondition$/);
    await expect(remote.info(sha('right'))).rejects.toThrow(NotFoundError);
    expect((await remote.status('restart')).offset).toBe(5);
    await remote.abort('restart');
  });

  it('refuses a blob that exists, whether announced or found at commit', async () => {
    const w = await remote.writer({ ref: 'dup-1' });
    await w.write(Buffer.from('dup'));
    await w.commit(3, sha('dup'));
    await expect(remote.writer({ ref: 'dup-2', expected: sha('dup') })).rejects.toThrow(AlreadyExistsError);
    const w2 = await remote.writer({ ref: 'dup-3' });
    await w2.write(Buffer.from('dup'));
    await expect(w2.commit(3, '')).rejects.toThrow(AlreadyExistsError);
    await expect(remote.status('dup-3')).rejects.toThrow(NotFoundError);
  });

  it('sends the namespace when asked to', async () => {
    namespaces.length = 0;
    const team = remoteContentStore(channel, { namespace: 'team-a', writeTransport });
    await team.listStatuses();
    await (await team.writer({ ref: 'ns-write' })).close();
    await remote.listStatuses();
    expect(namespaces).toEqual(['team-a', 'team-a', undefined]);
  });
});

describe('Write protocol', () => {
  const client = () => clientOf(Content, channel);

  it('wants a ref on the first message', async () => {
    const run = collect(client().write((async function* () {
      yield { action: WriteAction.STAT };
    })()));
    await expect(run).rejects.toThrow(InvalidArgumentError);
    await expect(run).rejects.toThrow('first message must have a reference');
  });

  it('answers every request once, echoing the action, and refuses writes away from the offset', async () => {
    const responses = await collect(client().write((async function* () {
      yield { action: WriteAction.STAT, ref: 'proto', total: 6n };
      yield { action: WriteAction.WRITE, offset: 0n, data: Buffer.from('abc') };
      yield { action: WriteAction.WRITE, offset: 3n, data: Buffer.from('def') };
      yield { action: WriteAction.STAT };
    })()));
    expect(responses.map((r) => [r.action, Number(r.offset), Number(r.total)])).toEqual([
      [WriteAction.STAT, 0, 6],
      [WriteAction.WRITE, 3, 6],
      [WriteAction.WRITE, 6, 6],
      [WriteAction.STAT, 6, 6],
    ]);
    expect(responses[2]!.digest).toBe(sha('abcdef'));
    expect(responses[0]!.startedAt).toBeDefined();

    const bad = collect(client().write((async function* () {
      yield { action: WriteAction.STAT, ref: 'proto' };
      yield { action: WriteAction.WRITE, offset: 2n, data: Buffer.from('x') };
    })()));
    await expect(bad).rejects.toThrow(OutOfRangeError);
    await expect(bad).rejects.toThrow('write @2 must occur at current offset 6');

    // Offset 0 on a non-empty ingest starts it over; COMMIT ends the session.
    const commit = await collect(client().write((async function* () {
      yield { action: WriteAction.WRITE, ref: 'proto', offset: 0n, data: Buffer.from('fresh') };
      yield { action: WriteAction.COMMIT, offset: 5n, total: 5n, expected: sha('fresh'), labels: { via: 'raw' } };
    })()));
    expect(commit.map((r) => [r.action, Number(r.offset), r.digest])).toEqual([
      [WriteAction.WRITE, 5, sha('fresh')],
      [WriteAction.COMMIT, 5, sha('fresh')],
    ]);
    expect((await remote.info(sha('fresh'))).labels).toEqual({ via: 'raw' });
  });

  it('releases the ref when the client goes away mid-stream', async () => {
    const ac = new AbortController();
    const responses = client().write((async function* () {
      yield { action: WriteAction.STAT, ref: 'gone' };
      await new Promise(() => {});
    })(), { signal: ac.signal });
    const it = responses[Symbol.asyncIterator]();
    await it.next();
    ac.abort();
    await expect(it.next()).rejects.toThrow();
    for (let i = 0; i < 50; i++) {
      try {
        await (await local.writer({ ref: 'gone' })).close();
        return;
      } catch (err) {
        if (!(err instanceof UnavailableError)) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    throw new Error('ref still locked');
  });
});
