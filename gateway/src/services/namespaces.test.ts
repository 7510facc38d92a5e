import { describe, expect, it } from 'vitest';
import { fromBinary } from '@bufbuild/protobuf';
import { Metadata } from 'nice-grpc';
import { Namespaces } from '@flotilla/proto/containerd/services/namespaces/v1/namespace_pb';
import { NamespaceCreateSchema, NamespaceDeleteSchema, NamespaceUpdateSchema } from '@flotilla/proto/containerd/events/namespace_pb';
import { clientOf } from '@flotilla/rpc/client';
import { createNamespaceStore } from '../metadata/namespaces.js';
import { namespacesService } from './namespaces.js';
import { serviceFixture } from '../test-support/service-fixture.js';

const svc = serviceFixture('ns', (server, db, events) => namespacesService(createNamespaceStore(db), events).register(server));

describe('namespaces service events', () => {
  it('publishes containerd\'s create, update and delete events, and none for a failed change', async () => {
    const ns = clientOf(Namespaces, svc.channel);
    await ns.create({ namespace: { name: 'blue', labels: { a: '1' } } });
    await ns.create({ namespace: { name: 'blue' } }).catch(() => {});
    await ns.update({ namespace: { name: 'blue', labels: { b: '2' } }, updateMask: { paths: ['labels.b'] } });
    await ns.delete({ name: 'blue' });
    await new Promise((r) => setImmediate(r));
    expect(svc.seen.map((e) => [e.namespace, e.topic, e.event?.typeUrl])).toEqual([
      ['blue', '/namespaces/create', 'containerd.events.NamespaceCreate'],
      ['blue', '/namespaces/update', 'containerd.events.NamespaceUpdate'],
      ['blue', '/namespaces/delete', 'containerd.events.NamespaceDelete'],
    ]);
    expect(fromBinary(NamespaceCreateSchema, svc.seen[0]!.event!.value)).toMatchObject({ name: 'blue', labels: { a: '1' } });
    // What the request set, as containerd publishes it, not every label the namespace now has.
    expect(fromBinary(NamespaceUpdateSchema, svc.seen[1]!.event!.value)).toEqual(expect.objectContaining({ name: 'blue', labels: { b: '2' } }));
    expect(fromBinary(NamespaceDeleteSchema, svc.seen[2]!.event!.value)).toMatchObject({ name: 'blue' });
  });

  it('publishes creations and updates in the caller\'s namespace, deletions in the deleted one, as containerd', async () => {
    const ns = clientOf(Namespaces, svc.channel);
    const caller = { metadata: Metadata({ 'containerd-namespace': 'default' }) };
    await ns.create({ namespace: { name: 'green' } }, caller);
    await ns.update({ namespace: { name: 'green', labels: { a: '' } }, updateMask: { paths: ['labels.a'] } }, caller);
    await ns.delete({ name: 'green' }, caller);
    await new Promise((r) => setImmediate(r));
    expect(svc.seen.map((e) => [e.namespace, e.topic])).toEqual([
      ['default', '/namespaces/create'],
      ['default', '/namespaces/update'],
      ['green', '/namespaces/delete'],
    ]);
    expect(fromBinary(NamespaceUpdateSchema, svc.seen[1]!.event!.value).labels).toEqual({ a: '' });
  });
});
