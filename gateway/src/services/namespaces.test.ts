import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { Metadata, type Channel } from 'nice-grpc';
import { Namespaces } from '@flotilla/proto/containerd/services/namespaces/v1/namespace_pb';
import { NamespaceCreateSchema, NamespaceDeleteSchema, NamespaceUpdateSchema } from '@flotilla/proto/containerd/events/namespace_pb';
import type { Envelope } from '@flotilla/proto/containerd/types/event_pb';
import { createLogger } from '@flotilla/log';
import { createRpcServer, listenUnix, type RpcServer } from '@flotilla/rpc';
import { clientOf, dialUnix } from '@flotilla/rpc/client';
import { openMetadata, type Db } from '../metadata/db.js';
import { createNamespaceStore } from '../metadata/namespaces.js';
import { createExchange } from '../events/exchange.js';
import { namespacesService } from './namespaces.js';

let dir: string;
let db: Db;
let server: RpcServer;
let channel: Channel;
let seen: Envelope[];
let stop: AbortController;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ns-svc-'));
  db = openMetadata(join(dir, 'meta.db'));
  const log = createLogger({ service: 'test', level: 'silent' });
  const events = createExchange(log);
  seen = [];
  stop = new AbortController();
  void (async () => { for await (const e of events.subscribe(stop.signal)) seen.push(e); })();
  server = createRpcServer(log);
  namespacesService(createNamespaceStore(db), events).register(server);
  await listenUnix(server, join(dir, 'ns.sock'));
  channel = dialUnix(join(dir, 'ns.sock'));
});
afterEach(() => {
  stop.abort();
  channel.close();
  server.forceShutdown();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('namespaces service events', () => {
  it('publishes containerd\'s create, update and delete events, and none for a failed change', async () => {
    const ns = clientOf(Namespaces, channel);
    await ns.create({ namespace: { name: 'blue', labels: { a: '1' } } });
    await ns.create({ namespace: { name: 'blue' } }).catch(() => {});
    await ns.update({ namespace: { name: 'blue', labels: { b: '2' } }, updateMask: { paths: ['labels.b'] } });
    await ns.delete({ name: 'blue' });
    await new Promise((r) => setImmediate(r));
    expect(seen.map((e) => [e.namespace, e.topic, e.event?.typeUrl])).toEqual([
      ['blue', '/namespaces/create', 'containerd.events.NamespaceCreate'],
      ['blue', '/namespaces/update', 'containerd.events.NamespaceUpdate'],
      ['blue', '/namespaces/delete', 'containerd.events.NamespaceDelete'],
    ]);
    expect(fromBinary(NamespaceCreateSchema, seen[0]!.event!.value)).toMatchObject({ name: 'blue', labels: { a: '1' } });
    // What the request set, as containerd publishes it, not every label the namespace now has.
    expect(fromBinary(NamespaceUpdateSchema, seen[1]!.event!.value)).toEqual(expect.objectContaining({ name: 'blue', labels: { b: '2' } }));
    expect(fromBinary(NamespaceDeleteSchema, seen[2]!.event!.value)).toMatchObject({ name: 'blue' });
  });

  it('publishes creations and updates in the caller\'s namespace, deletions in the deleted one, as containerd', async () => {
    const ns = clientOf(Namespaces, channel);
    const caller = { metadata: Metadata({ 'containerd-namespace': 'default' }) };
    await ns.create({ namespace: { name: 'green' } }, caller);
    await ns.update({ namespace: { name: 'green', labels: { a: '' } }, updateMask: { paths: ['labels.a'] } }, caller);
    await ns.delete({ name: 'green' }, caller);
    await new Promise((r) => setImmediate(r));
    expect(seen.map((e) => [e.namespace, e.topic])).toEqual([
      ['default', '/namespaces/create'],
      ['default', '/namespaces/update'],
      ['green', '/namespaces/delete'],
    ]);
    expect(fromBinary(NamespaceUpdateSchema, seen[1]!.event!.value).labels).toEqual({ a: '' });
  });
});
