import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, type Channel } from 'nice-grpc';
import { Snapshots } from '@flotilla/proto/containerd/services/snapshots/v1/snapshots_pb';
import { FailedPreconditionError, InvalidArgumentError, NotImplementedError } from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import { createRpcServer, listenUnix, type RpcServer } from '@flotilla/rpc';
import { clientOf, dialUnix } from '@flotilla/rpc/client';
import { remoteSnapshotter, snapshotsService } from '@flotilla/snapshots';
import { openMetadata, type Db } from '../metadata/db.js';
import { createLeaseStore, type LeaseStore } from '../metadata/leases.js';
import { createNamespacedSnapshots } from '../metadata/snapshots.js';
import { createExchange } from '../events/exchange.js';
import { createMemorySnapshotter, type MemorySnapshotter } from '../test-support/memory-snapshotter.js';
import { snapshotterByName } from './snapshots.js';

let dir: string;
let db: Db;
let leases: LeaseStore;
let backend: MemorySnapshotter;
let server: RpcServer;
let channel: Channel;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'snapshots-svc-'));
  db = openMetadata(join(dir, 'meta.db'));
  const log = createLogger({ service: 'test', level: 'silent' });
  leases = createLeaseStore(db);
  backend = createMemorySnapshotter();
  const overlay = createNamespacedSnapshots({ db, name: 'overlayfs', backend: () => backend, leases, events: createExchange(log), log, onRemove: () => {} });
  server = createRpcServer(log);
  snapshotsService(snapshotterByName((name) => (name === 'overlayfs' ? overlay : undefined))).register(server);
  await listenUnix(server, join(dir, 'gw.sock'));
  channel = dialUnix(join(dir, 'gw.sock'));
});
afterEach(async () => {
  channel.close();
  await server.shutdown();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the Snapshots service over namespaced metadata', () => {
  it('serves each call in its namespace, under its lease', async () => {
    leases.create('team1', 'pull', {});
    const client = clientOf(Snapshots, channel);
    const call = { metadata: Metadata({ 'containerd-namespace': 'team1', 'containerd-lease': 'pull' }) };
    await client.prepare({ snapshotter: 'overlayfs', key: 'k', parent: '' }, call);
    expect(leases.listResources('team1', 'pull')).toEqual([{ type: 'snapshots/overlayfs', id: 'k' }]);
    expect(backend.keys()).toEqual(['team1/1/k']);
    const team1 = remoteSnapshotter(channel, 'overlayfs', { namespace: 'team1' });
    expect(await team1.stat('k')).toMatchObject({ name: 'k', kind: 'active' });
    const team2 = remoteSnapshotter(channel, 'overlayfs', { namespace: 'team2' });
    const names: string[] = [];
    await team2.walk((i) => { names.push(i.name); });
    expect(names).toEqual([]);
  });

  it('answers containerd\'s errors: unknown snapshotter, missing namespace, no Cleanup through metadata', async () => {
    await expect(remoteSnapshotter(channel, 'aufs', { namespace: 'n' }).stat('k')).rejects.toBeInstanceOf(InvalidArgumentError);
    // The name is checked before the namespace, as containerd's service looks the snapshotter up first.
    await expect(remoteSnapshotter(channel, 'aufs').stat('k')).rejects.toThrow(/snapshotter not loaded: aufs/);
    await expect(remoteSnapshotter(channel, 'overlayfs').stat('k')).rejects.toBeInstanceOf(FailedPreconditionError);
    await expect(remoteSnapshotter(channel, 'overlayfs', { namespace: 'n' }).cleanup!()).rejects.toBeInstanceOf(NotImplementedError);
  });
});
