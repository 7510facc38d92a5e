import { describe, expect, it } from 'vitest';
import { create, toBinary } from '@bufbuild/protobuf';
import {
  PrepareSnapshotRequestSchema,
  ListSnapshotsRequestSchema,
} from '@flotilla/proto/containerd/services/snapshots/v1/snapshots_pb';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { bySnapshotter, peekStringField } from './router.js';
import type { Backend } from './backend.js';

describe('routing by snapshotter', () => {
  it('reads field 1 without decoding the rest, wherever it sits', () => {
    const prepare = toBinary(PrepareSnapshotRequestSchema, create(PrepareSnapshotRequestSchema, {
      snapshotter: 'overlayfs', key: 'k', parent: 'p', labels: { a: 'b' },
    }));
    expect(peekStringField(prepare, 1)).toBe('overlayfs');
    expect(peekStringField(prepare, 2)).toBe('k');
    const list = toBinary(ListSnapshotsRequestSchema, create(ListSnapshotsRequestSchema, { filters: ['x==y'], snapshotter: 'blockfile' }));
    expect(peekStringField(list, 1)).toBe('blockfile');
    expect(peekStringField(new Uint8Array(), 1)).toBe('');
  });

  it('answers InvalidArgument for a snapshotter nobody serves, as containerd does', () => {
    const b = { name: 'x' } as Backend;
    const resolve = bySnapshotter((n) => (n === 'overlayfs' ? b : undefined));
    const req = (s: string) => toBinary(ListSnapshotsRequestSchema, create(ListSnapshotsRequestSchema, { snapshotter: s }));
    expect(resolve(req('overlayfs'))).toBe(b);
    expect(() => resolve(req('aufs'))).toThrow(InvalidArgumentError);
    expect(() => resolve(req('aufs'))).toThrow(/snapshotter not loaded: aufs/);
  });
});
