import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { InfoSchema, Kind as ProtoKind, UsageResponseSchema } from '@flotilla/proto/containerd/services/snapshots/v1/snapshots_pb';
import { MountSchema } from '@flotilla/proto/containerd/types/mount_pb';
import {
  ZERO_TIME,
  infoFromProto,
  infoToProto,
  kindFromProto,
  kindToProto,
  labelsFromProto,
  mountFromProto,
  mountToProto,
  usageFromProto,
  usageToProto,
} from './convert.js';
import type { Info } from './snapshotter.js';

describe('kinds', () => {
  it('map both ways', () => {
    expect(kindToProto('active')).toBe(ProtoKind.ACTIVE);
    expect(kindToProto('view')).toBe(ProtoKind.VIEW);
    expect(kindToProto('committed')).toBe(ProtoKind.COMMITTED);
    expect(kindFromProto(ProtoKind.ACTIVE)).toBe('active');
    expect(kindFromProto(ProtoKind.VIEW)).toBe('view');
    expect(kindFromProto(ProtoKind.COMMITTED)).toBe('committed');
  });

  it('read an unknown kind as committed, as containerd does', () => {
    expect(kindFromProto(ProtoKind.UNKNOWN)).toBe('committed');
    expect(kindFromProto(42 as ProtoKind)).toBe('committed');
  });
});

describe('info', () => {
  const info: Info = {
    kind: 'view',
    name: 'v1',
    parent: 'c2',
    labels: { 'containerd.io/gc.root': 'x', a: 'b' },
    created: new Date('2024-05-06T07:08:09.123Z'),
    updated: new Date('2024-05-06T07:08:10.456Z'),
  };

  it('survives a round trip, milliseconds included', () => {
    const proto = infoToProto(info);
    expect(proto.kind).toBe(ProtoKind.VIEW);
    expect(proto.createdAt?.nanos).toBe(123_000_000);
    expect(infoFromProto(proto)).toEqual(info);
  });

  it('reads absent fields as Go zero values', () => {
    expect(infoFromProto(undefined)).toEqual({ kind: 'committed', name: '', parent: '', labels: {}, created: ZERO_TIME, updated: ZERO_TIME });
    const partial = infoFromProto(create(InfoSchema, { name: 'n', kind: ProtoKind.ACTIVE, updatedAt: timestampFromDate(info.updated) }));
    expect(partial.created).toEqual(ZERO_TIME);
    expect(partial.updated).toEqual(info.updated);
  });

  it('copies labels rather than sharing them', () => {
    const proto = infoToProto(info);
    proto.labels['new'] = 'x';
    expect(info.labels).not.toHaveProperty('new');
  });
});

describe('usage', () => {
  it('is an int64 on the wire and a number here', () => {
    const proto = usageToProto({ size: 2 ** 40 + 512, inodes: 7 });
    expect(proto.size).toBe(2n ** 40n + 512n);
    expect(proto.inodes).toBe(7n);
    expect(usageFromProto(create(UsageResponseSchema, { size: 4096n, inodes: 3n }))).toEqual({ size: 4096, inodes: 3 });
  });
});

describe('mounts', () => {
  it('keep type, source, target and options in order', () => {
    const m = { type: 'overlay', source: 'overlay', target: 'sub', options: ['workdir=/w', 'upperdir=/u', 'lowerdir=/a:/b'] };
    expect(mountFromProto(mountToProto(m))).toEqual(m);
    expect(mountFromProto(create(MountSchema, { type: 'bind', source: '/s', options: ['ro', 'rbind'] }))).toEqual({
      type: 'bind', source: '/s', target: '', options: ['ro', 'rbind'],
    });
  });
});

describe('request labels', () => {
  it('are none when the map is empty, as Go decodes it', () => {
    expect(labelsFromProto(undefined)).toBeUndefined();
    expect(labelsFromProto({})).toBeUndefined();
    expect(labelsFromProto({ a: '' })).toEqual({ a: '' });
  });
});
