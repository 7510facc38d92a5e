import { beforeEach, describe, expect, it } from 'vitest';
import { fromBinary } from '@bufbuild/protobuf';
import { Metadata } from 'nice-grpc';
import { Containers } from '@flotilla/proto/containerd/services/containers/v1/containers_pb';
import { ContainerCreateSchema, ContainerDeleteSchema, ContainerUpdateSchema } from '@flotilla/proto/containerd/events/container_pb';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, NotImplementedError } from '@flotilla/errdefs';
import { clientOf } from '@flotilla/rpc/client';
import { createContainerStore } from '../metadata/containers.js';
import { containersService } from './containers.js';
import { serviceFixture } from '../test-support/service-fixture.js';

const ns = { metadata: Metadata({ 'containerd-namespace': 'svc' }) };
const spec = { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: new TextEncoder().encode('{}') };
const options = { typeUrl: 'containerd.runc.v1.Options', value: new Uint8Array([10, 4, 99, 114, 117, 110]) };

let collections: number;
beforeEach(() => {
  collections = 0;
});
const svc = serviceFixture('containers', (server, db, events) => {
  containersService(createContainerStore(db), events, { schedule: () => { collections++; }, collect: async () => {} }).register(server);
});

const tick = () => new Promise((r) => setTimeout(r, 10));

describe('containers service', () => {
  it('creates, reads, lists, streams, updates and deletes, publishing containerd\'s events', async () => {
    const client = clientOf(Containers, svc.channel);
    const created = await client.create({
      container: { id: 'c1', image: 'img:1', labels: { a: '1', drop: '' }, runtime: { name: 'io.containerd.runc.v2', options }, spec, snapshotter: 'overlayfs', snapshotKey: 'c1', extensions: { e: spec } },
    }, ns);
    expect(created.container).toMatchObject({ id: 'c1', labels: { a: '1' }, image: 'img:1', snapshotter: 'overlayfs', snapshotKey: 'c1' });
    expect(created.container?.createdAt).toEqual(created.container?.updatedAt);
    const got = (await client.get({ id: 'c1' }, ns)).container!;
    expect(Buffer.from(got.runtime!.options!.value)).toEqual(Buffer.from(options.value));
    expect(got.spec?.typeUrl).toBe(spec.typeUrl);
    expect(Object.keys(got.extensions)).toEqual(['e']);

    await client.create({ container: { id: 'c2', runtime: { name: 'io.containerd.runc.v2' }, spec, labels: { a: '2' } } }, ns);
    expect((await client.list({ filters: ['labels.a==2'] }, ns)).containers.map((c) => c.id)).toEqual(['c2']);
    const streamed: string[] = [];
    for await (const m of client.listStream({}, ns)) streamed.push(m.container!.id);
    expect(streamed).toEqual(['c1', 'c2']);

    const updated = await client.update({ container: { id: 'c1', labels: { b: '2' } }, updateMask: { paths: ['labels.b', 'labels.a'] } }, ns);
    expect(updated.container?.labels).toEqual({ b: '2' });
    await client.delete({ id: 'c1' }, ns);
    expect(collections).toBe(1);
    await expect(client.get({ id: 'c1' }, ns)).rejects.toThrow(NotFoundError);

    await tick();
    expect(svc.seen.map((e) => [e.namespace, e.topic, e.event?.typeUrl])).toEqual([
      ['svc', '/containers/create', 'containerd.events.ContainerCreate'],
      ['svc', '/containers/create', 'containerd.events.ContainerCreate'],
      ['svc', '/containers/update', 'containerd.events.ContainerUpdate'],
      ['svc', '/containers/delete', 'containerd.events.ContainerDelete'],
    ]);
    const create = fromBinary(ContainerCreateSchema, svc.seen[0]!.event!.value);
    expect(create).toMatchObject({ id: 'c1', image: 'img:1', runtime: { name: 'io.containerd.runc.v2', options: { typeUrl: options.typeUrl } } });
    expect(fromBinary(ContainerUpdateSchema, svc.seen[2]!.event!.value)).toMatchObject({ id: 'c1', image: 'img:1', labels: { b: '2' }, snapshotKey: 'c1' });
    expect(fromBinary(ContainerDeleteSchema, svc.seen[3]!.event!.value).id).toBe('c1');
  });

  it('publishes nothing for a refused change, and collects nothing', async () => {
    const client = clientOf(Containers, svc.channel);
    await expect(client.create({}, ns)).rejects.toThrow(InvalidArgumentError);
    await expect(client.create({ container: { id: 'c1', spec } }, ns)).rejects.toThrow(/container\.Runtime\.Name must be set/);
    await expect(client.create({ container: { id: 'c1', runtime: { name: 'io.containerd.runc.v1' }, spec } }, ns))
      .rejects.toThrow(NotImplementedError);
    await expect(client.update({ container: { id: '' } }, ns)).rejects.toThrow(new InvalidArgumentError('Container.ID required'));
    await expect(client.update({}, {})).rejects.toThrow(new InvalidArgumentError('Container.ID required'));
    await expect(client.update({ container: { id: 'nope' }, updateMask: { paths: ['labels'] } }, ns)).rejects.toThrow(NotFoundError);
    await expect(client.delete({ id: 'nope' }, ns)).rejects.toThrow(NotFoundError);
    await expect(client.list({ filters: ['id=='] }, ns)).rejects.toThrow(InvalidArgumentError);
    await tick();
    expect(svc.seen).toEqual([]);
    expect(collections).toBe(0);
  });

  it('requires a namespace', async () => {
    const client = clientOf(Containers, svc.channel);
    await expect(client.get({ id: 'c1' }, {})).rejects.toThrow(FailedPreconditionError);
    await expect(client.list({}, {})).rejects.toThrow(FailedPreconditionError);
    await expect(client.create({ container: { id: 'c1', runtime: { name: 'io.containerd.runc.v2' }, spec } }, {})).rejects.toThrow(FailedPreconditionError);
    await expect(client.delete({ id: 'c1' }, {})).rejects.toThrow(FailedPreconditionError);
  });
});
