import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, toBinary, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { Metadata, type CallContext } from 'nice-grpc';
import { NotFoundError } from '@flotilla/errdefs';
import { CONTAINER_CHECKED_KEY, NAMESPACE_KEY } from '@flotilla/rpc';
import { Tasks } from '@flotilla/proto/containerd/services/tasks/v1/tasks_pb';
import { openMetadata, type Db } from './metadata/db.js';
import { createContainerStore, type ContainerStore } from './metadata/containers.js';
import { createNamespaceStore } from './metadata/namespaces.js';
import { taskContainerGuard } from './task-container-guard.js';

let dir: string;
let db: Db;
let containers: ContainerStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'task-guard-'));
  db = openMetadata(join(dir, 'meta.db'));
  createNamespaceStore(db).create('n', {});
  containers = createContainerStore(db);
  containers.create('n', { id: 'c1', runtime: { name: 'io.containerd.runc.v2' }, spec: { typeUrl: 'x', value: new Uint8Array([1]) } });
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const method = (name: string) => Tasks.methods.find((m) => m.name === name)!;
const ctx = (ns?: string) => ({ metadata: Metadata(ns !== undefined ? { [NAMESPACE_KEY]: ns } : {}) }) as unknown as CallContext;
const bytesOf = <D extends DescMessage>(schema: D, init: MessageInitShape<D>) => toBinary(schema, create(schema, init));

describe('taskContainerGuard', () => {
  const guard = () => taskContainerGuard(containers);

  it('passes on the container it found for every call about one task', () => {
    for (const name of ['Start', 'Delete', 'Get', 'Kill', 'Wait', 'Exec', 'ListPids', 'Pause', 'Resume', 'CloseIO', 'ResizePty', 'Update', 'Checkpoint', 'DeleteProcess']) {
      const m = method(name);
      expect(guard()(m, bytesOf(m.input, { containerId: 'c1' } as never), ctx('n')), name).toEqual({ [CONTAINER_CHECKED_KEY]: 'c1' });
    }
  });

  it('answers NotFound itself for a container the namespace does not hold', () => {
    const m = method('Start');
    expect(() => guard()(m, bytesOf(m.input, { containerId: 'missing' } as never), ctx('n'))).toThrow(NotFoundError);
    expect(() => guard()(m, bytesOf(m.input, { containerId: 'c1' } as never), ctx('other'))).toThrow(NotFoundError);
  });

  it('leaves Create, List, Metrics, and calls without a container or namespace to the runtime', () => {
    const createM = method('Create');
    expect(guard()(createM, bytesOf(createM.input, { containerId: 'missing' } as never), ctx('n'))).toBeUndefined();
    expect(guard()(method('List'), bytesOf(method('List').input, {} as never), ctx('n'))).toBeUndefined();
    expect(guard()(method('Metrics'), bytesOf(method('Metrics').input, { filters: ['id==c1'] } as never), ctx('n'))).toBeUndefined();
    const start = method('Start');
    expect(guard()(start, bytesOf(start.input, { containerId: '' } as never), ctx('n'))).toBeUndefined();
    expect(guard()(start, bytesOf(start.input, { containerId: 'missing' } as never), ctx())).toBeUndefined();
  });
});
