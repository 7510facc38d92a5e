import { describe, expect, it } from 'vitest';
import { create, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { ContainerCreateSchema, ContainerUpdateSchema } from '@flotilla/proto/containerd/events/container_pb';
import { SnapshotPrepareSchema } from '@flotilla/proto/containerd/events/snapshot_pb';
import { TaskCreateSchema, TaskExitSchema } from '@flotilla/proto/containerd/events/task_pb';
import { ImageCreateSchema } from '@flotilla/proto/containerd/events/image_pb';
import { EnvelopeSchema, type Envelope } from '@flotilla/proto/containerd/types/event_pb';
import { packAny } from './exchange.js';
import { adaptEnvelope, compileEnvelopeFilter } from './envelope-filter.js';

function envelope<D extends DescMessage>(namespace: string, topic: string, schema: D, event: MessageInitShape<D>): Envelope {
  return create(EnvelopeSchema, { namespace, topic, event: packAny(schema, event) });
}

const containerCreate = envelope('n1', '/containers/create', ContainerCreateSchema, {
  id: 'c1',
  image: 'docker.io/library/busybox:latest',
  runtime: { name: 'io.containerd.runc.v2', options: { typeUrl: 'containerd.runc.v1.Options', value: new Uint8Array([10, 4, 99, 114, 117, 110]) } },
});
const containerUpdate = envelope('n1', '/containers/update', ContainerUpdateSchema, { id: 'c1', labels: { tier: 'front', 'a.b': 'dotted' }, snapshotKey: 'c1' });
const snapshotPrepare = envelope('n2', '/snapshot/prepare', SnapshotPrepareSchema, { key: 'k', parent: 'p', snapshotter: 'overlayfs' });
const taskCreate = envelope('n2', '/tasks/create', TaskCreateSchema, { containerId: 'c1', pid: 42, io: { stdout: '/tmp/out', terminal: false } });
const taskExit = envelope('n2', '/tasks/exit', TaskExitSchema, { containerId: 'c1', id: 'c1', exitStatus: 3 });
const imageCreate = envelope('n1', '/images/create', ImageCreateSchema, { name: 'img', labels: { a: 'b' } });
const all = { containerCreate, containerUpdate, snapshotPrepare, taskCreate, taskExit, imageCreate };

const matching = (...filters: string[]) => {
  const match = compileEnvelopeFilter(filters);
  return Object.entries(all).filter(([, e]) => match(e)).map(([name]) => name);
};

describe('event filters', () => {
  it.each([
    [['topic=="/containers/create"'], ['containerCreate']],
    [['topic~="^/tasks/"'], ['taskCreate', 'taskExit']],
    [['namespace==n2'], ['snapshotPrepare', 'taskCreate', 'taskExit']],
    [['namespace==n1,topic~=update'], ['containerUpdate']],
    [['topic=="/images/create"', 'topic=="/tasks/exit"'], ['taskExit', 'imageCreate']],
    [['event.id==c1'], ['containerCreate', 'containerUpdate', 'taskExit']],
    [['event.container_id==c1'], ['taskCreate', 'taskExit']],
    [['event.image~=busybox'], ['containerCreate']],
    [['event.runtime.name==io.containerd.runc.v2'], ['containerCreate']],
    [['event.labels.tier==front'], ['containerUpdate']],
    [['event.labels."a.b"==dotted'], ['containerUpdate']],
    [['event.snapshot_key'], ['containerUpdate']],
    [['event.key==k,event.parent==p'], ['snapshotPrepare']],
    [['event.io.stdout=="/tmp/out"'], ['taskCreate']],
    // A bool is always present, printed as Go prints it.
    [['event.io.terminal==false'], ['taskCreate']],
  ])('%j', (filters, want) => {
    expect(matching(...filters)).toEqual(want);
  });

  it.each([
    // What containerd's Field methods do not read is absent: numbers, snapshotter, unknown Any types,
    // and every field of event types that have no Field method (images).
    ['event.pid==42'],
    ['event.exit_status==3'],
    ['event.snapshotter==overlayfs'],
    ['event.runtime.options'],
    ['event.runtime.options.binary_name'],
    ['event.name==img'],
    ['event.labels.a==b'],
    ['event'],
    ['timestamp'],
  ])('%s matches nothing', (filter) => {
    expect(matching(filter)).toEqual([]);
  });

  it('looks into an event only when asked, and reads a type URL with a host the same way', () => {
    const withHost = create(EnvelopeSchema, {
      namespace: 'n',
      topic: '/containers/create',
      event: create(AnySchema, { typeUrl: 'type.googleapis.com/containerd.events.ContainerCreate', value: containerCreate.event!.value }),
    });
    expect(adaptEnvelope(withHost).field(['event', 'id'])).toEqual({ value: 'c1', present: true });
    const garbage = create(EnvelopeSchema, { namespace: 'n', topic: '/t', event: create(AnySchema, { typeUrl: 'containerd.events.ContainerCreate', value: new Uint8Array([0xff]) }) });
    expect(adaptEnvelope(garbage).field(['topic'])).toEqual({ value: '/t', present: true });
    expect(adaptEnvelope(garbage).field(['event', 'id']).present).toBe(false);
    expect(adaptEnvelope(create(EnvelopeSchema, { topic: '/t' })).field(['namespace']).present).toBe(false);
  });
});
