import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Channel } from 'nice-grpc';
import { Snapshots } from '@flotilla/proto/containerd/services/snapshots/v1/snapshots_pb';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
} from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import { createRpcServer, listenUnix, namespaceOf, type RpcServer } from '@flotilla/rpc';
import { clientOf, dialUnix } from '@flotilla/rpc/client';
import { remoteSnapshotter } from './proxy.js';
import { snapshotsService } from './server.js';
import type { Info, Mount, Snapshotter } from './snapshotter.js';

const log = createLogger({ service: 'test', level: 'silent' });
const at = new Date('2024-01-02T03:04:05.678Z');

/** A Snapshotter that records what it was asked and answers from `infos`; `fail` makes every call throw. */
function fakeSnapshotter() {
  const calls: unknown[][] = [];
  const state = {
    infos: [] as Info[],
    fail: undefined as Error | undefined,
    withCleanup: true,
  };
  const mounts: Mount[] = [{ type: 'overlay', source: 'overlay', target: '', options: ['lowerdir=/a:/b', 'upperdir=/u', 'workdir=/w'] }];
  const record = (name: string, ...args: unknown[]) => {
    calls.push([name, ...args]);
    if (state.fail) throw state.fail;
  };
  const sn: Snapshotter = {
    async stat(key) {
      record('stat', key);
      const info = state.infos.find((i) => i.name === key);
      if (!info) throw new NotFoundError(`snapshot ${key} does not exist`);
      return info;
    },
    async update(info, fieldpaths) {
      record('update', info.name, { ...info.labels }, fieldpaths);
      return { kind: 'active', name: info.name, parent: 'p', labels: { ...info.labels }, created: at, updated: at };
    },
    async usage(key) {
      record('usage', key);
      return { size: 2 ** 33, inodes: 12 };
    },
    async mounts(key) {
      record('mounts', key);
      return mounts;
    },
    async prepare(key, parent, opts) {
      record('prepare', key, parent, opts);
      return mounts;
    },
    async view(key, parent, opts) {
      record('view', key, parent, opts);
      return mounts;
    },
    async commit(name, key, opts) {
      record('commit', name, key, opts);
    },
    async remove(key) {
      record('remove', key);
    },
    async walk(fn, ...filters) {
      record('walk', filters);
      for (const info of state.infos) await fn(info);
    },
    async cleanup() {
      record('cleanup');
    },
    async close() {},
  };
  return { sn, calls, state };
}

let dir: string;
let server: RpcServer;
let channel: Channel;
let fake: ReturnType<typeof fakeSnapshotter>;
const resolved: { name: string; namespace: string | undefined }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'snapshots-server-'));
  server = createRpcServer(log);
  snapshotsService((name, ctx) => {
    resolved.push({ name, namespace: namespaceOf(ctx.metadata) });
    if (name === 'nosuch') throw new InvalidArgumentError(`snapshotter not loaded: ${name}`);
    const { sn } = fake;
    return fake.state.withCleanup ? sn : { ...sn, cleanup: undefined };
  }).register(server);
  await listenUnix(server, join(dir, 's.sock'));
  channel = dialUnix(join(dir, 's.sock'));
});

afterAll(async () => {
  channel?.close();
  await server?.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  fake = fakeSnapshotter();
  resolved.length = 0;
});

const info = (name: string, i = 0): Info => ({
  kind: 'committed',
  name,
  parent: '',
  labels: { n: String(i) },
  created: at,
  updated: at,
});

describe('snapshots service through the proxy', () => {
  it('hands the snapshotter name and namespace to the resolver', async () => {
    const remote = remoteSnapshotter(channel, 'overlayfs', { namespace: 'team1' });
    fake.state.infos = [info('c1')];
    await remote.stat('c1');
    expect(resolved).toEqual([{ name: 'overlayfs', namespace: 'team1' }]);
  });

  it('carries prepare, view, mounts and commit arguments both ways', async () => {
    const remote = remoteSnapshotter(channel, 'overlayfs');
    const mounts = await remote.prepare('k', 'p', { labels: { a: 'b' } });
    expect(mounts).toEqual([{ type: 'overlay', source: 'overlay', target: '', options: ['lowerdir=/a:/b', 'upperdir=/u', 'workdir=/w'] }]);
    await remote.view('v', 'p');
    await remote.mounts('k');
    await remote.commit('name', 'k', { labels: { x: 'y' } });
    await remote.commit('name2', 'k2', { parent: 'base' });
    expect(fake.calls).toEqual([
      ['prepare', 'k', 'p', { labels: { a: 'b' } }],
      // No labels on the wire is no labels for the snapshotter.
      ['view', 'v', 'p', {}],
      ['mounts', 'k'],
      ['commit', 'name', 'k', { labels: { x: 'y' } }],
      ['commit', 'name2', 'k2', { parent: 'base' }],
    ]);
  });

  it('carries stat, update with field paths, usage, remove and cleanup', async () => {
    const remote = remoteSnapshotter(channel, 'overlayfs');
    fake.state.infos = [info('c1', 3)];
    expect(await remote.stat('c1')).toEqual(info('c1', 3));
    const updated = await remote.update({ name: 'c1', labels: { a: '1' } }, ['labels.a']);
    expect(updated).toEqual({ kind: 'active', name: 'c1', parent: 'p', labels: { a: '1' }, created: at, updated: at });
    expect(await remote.usage('c1')).toEqual({ size: 2 ** 33, inodes: 12 });
    await remote.remove('c1');
    await remote.cleanup!();
    expect(fake.calls.slice(1)).toEqual([
      ['update', 'c1', { a: '1' }, ['labels.a']],
      ['usage', 'c1'],
      ['remove', 'c1'],
      ['cleanup'],
    ]);
  });

  it('walks with the filters, every snapshot once, across List blocks', async () => {
    const remote = remoteSnapshotter(channel, 'overlayfs');
    fake.state.infos = Array.from({ length: 250 }, (_, i) => info(`s${i}`, i));
    const seen: string[] = [];
    await remote.walk((i) => {
      seen.push(i.name);
    }, 'kind==committed', 'name==x');
    expect(seen).toEqual(fake.state.infos.map((i) => i.name));
    expect(fake.calls).toEqual([['walk', ['kind==committed', 'name==x']]]);
  });

  it('stops a walk whose callback fails, with that failure', async () => {
    const remote = remoteSnapshotter(channel, 'overlayfs');
    fake.state.infos = Array.from({ length: 5 }, (_, i) => info(`s${i}`, i));
    const seen: string[] = [];
    const boom = new Error('stop here');
    await expect(remote.walk((i) => {
      seen.push(i.name);
      if (seen.length === 2) throw boom;
    })).rejects.toBe(boom);
    expect(seen).toEqual(['s0', 's1']);
  });

  it('brings the snapshotter errors back as their errdefs classes', async () => {
    const remote = remoteSnapshotter(channel, 'overlayfs');
    await expect(remote.stat('missing')).rejects.toBeInstanceOf(NotFoundError);
    for (const err of [new AlreadyExistsError('snapshot k'), new FailedPreconditionError('cannot remove snapshot with child'), new InvalidArgumentError('bad')]) {
      fake.state.fail = err;
      const got = await remote.remove('k').then(() => undefined, (e: unknown) => e);
      expect(got).toBeInstanceOf(err.constructor);
      expect((got as Error).message).toBe(err.message);
    }
  });

  it('refuses an unknown snapshotter as the resolver says', async () => {
    await expect(remoteSnapshotter(channel, 'nosuch').stat('x')).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('answers Cleanup with NotImplemented when the snapshotter has none', async () => {
    fake.state.withCleanup = false;
    await expect(remoteSnapshotter(channel, 'overlayfs').cleanup!()).rejects.toBeInstanceOf(NotImplementedError);
  });
});

describe('List', () => {
  it('sends blocks of 100, as containerd does', async () => {
    fake.state.infos = Array.from({ length: 250 }, (_, i) => info(`s${i}`, i));
    const sizes: number[] = [];
    for await (const resp of clientOf(Snapshots, channel).list({ snapshotter: 'overlayfs', filters: [] })) sizes.push(resp.info.length);
    expect(sizes).toEqual([100, 100, 50]);
  });

  it('sends nothing for no snapshots', async () => {
    const sizes: number[] = [];
    for await (const resp of clientOf(Snapshots, channel).list({ snapshotter: 'overlayfs', filters: [] })) sizes.push(resp.info.length);
    expect(sizes).toEqual([]);
  });
});
