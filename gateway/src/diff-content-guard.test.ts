import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { Metadata, type CallContext } from 'nice-grpc';
import { NotFoundError } from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import { ApplyRequestSchema, Diff, DiffRequestSchema } from '@flotilla/proto/containerd/services/diff/v1/diff_pb';
import { CONTENT_CHECKED_KEY, NAMESPACE_KEY, checkedContentOf } from '@flotilla/rpc';
import { createLocalStore, type LocalContentStore } from '@flotilla/service-content';
import { openMetadata, type Db } from './metadata/db.js';
import { createLeaseStore } from './metadata/leases.js';
import { createNamespacedContent, type NamespacedContent } from './metadata/content.js';
import { createExchange } from './events/exchange.js';
import { createRwLock } from './gc/rw-lock.js';
import { diffContentGuard } from './diff-content-guard.js';

const log = createLogger({ service: 'test', level: 'silent' });
let dir: string;
let db: Db;
let backend: LocalContentStore;
let content: NamespacedContent;
const layer = Buffer.from('not really a layer');
const digest = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
const diffId = `sha256:${'d'.repeat(64)}`;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'diff-guard-'));
  db = openMetadata(join(dir, 'meta.db'));
  backend = await createLocalStore({ root: join(dir, 'content'), log });
  content = createNamespacedContent({ db, backend, leases: createLeaseStore(db), events: createExchange(log), lock: createRwLock(), onDelete: () => {} });
  const w = await content.store('n').writer({ ref: 'l', total: layer.length, expected: digest });
  await w.write(layer);
  await w.commit(layer.length, digest, { labels: { 'containerd.io/uncompressed': diffId } });
});
afterEach(() => {
  backend.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const apply = Diff.methods.find((m) => m.name === 'Apply')!;
const diff = Diff.methods.find((m) => m.name === 'Diff')!;
const ctx = (ns?: string) => ({ metadata: Metadata(ns !== undefined ? { [NAMESPACE_KEY]: ns } : {}) }) as unknown as CallContext;
const applyOf = (d: string) => toBinary(ApplyRequestSchema, create(ApplyRequestSchema, { diff: { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: d, size: 1n } }));

describe('diffContentGuard', () => {
  it('tells the differ the size and diff ID of a layer blob the namespace holds', () => {
    const extra = diffContentGuard(content)(apply, applyOf(digest), ctx('n'));
    expect(extra).toEqual({ [CONTENT_CHECKED_KEY]: `${digest} ${layer.length} ${diffId}` });
    expect(checkedContentOf(Metadata(extra), digest)).toEqual({ digest, size: layer.length, uncompressed: diffId });
  });

  it('answers NotFound itself for a blob the namespace does not hold', () => {
    expect(() => diffContentGuard(content)(apply, applyOf(digest), ctx('other'))).toThrow(NotFoundError);
    expect(() => diffContentGuard(content)(apply, applyOf(`sha256:${'0'.repeat(64)}`), ctx('n'))).toThrow(NotFoundError);
  });

  it('leaves what the differ refuses itself to the differ, clearing the key a client may have set', () => {
    const guard = diffContentGuard(content);
    expect(guard(apply, applyOf(''), ctx('n'))).toEqual({ [CONTENT_CHECKED_KEY]: '' });
    expect(guard(apply, applyOf('sha256:short'), ctx('n'))).toEqual({ [CONTENT_CHECKED_KEY]: '' });
    expect(guard(apply, applyOf(digest), ctx())).toEqual({ [CONTENT_CHECKED_KEY]: '' });
    expect(checkedContentOf(Metadata({ [CONTENT_CHECKED_KEY]: '' }), digest)).toBeUndefined();
    expect(guard(diff, toBinary(DiffRequestSchema, create(DiffRequestSchema, {})), ctx('n'))).toBeUndefined();
  });
});

describe('checkedContentOf', () => {
  it('reads only a well-formed value about the digest asked for', () => {
    const md = (v: string) => Metadata({ [CONTENT_CHECKED_KEY]: v });
    expect(checkedContentOf(md(`${digest} 12`), digest)).toEqual({ digest, size: 12 });
    expect(checkedContentOf(md(`${digest} 12`), `sha256:${'1'.repeat(64)}`)).toBeUndefined();
    expect(checkedContentOf(md(`${digest} -1`), digest)).toBeUndefined();
    expect(checkedContentOf(md(`${digest} 1e3`), digest)).toBeUndefined();
    expect(checkedContentOf(md(`${digest}`), digest)).toBeUndefined();
    expect(checkedContentOf(md(`${digest} 1 ${diffId} extra`), digest)).toBeUndefined();
    expect(checkedContentOf(Metadata(), digest)).toBeUndefined();
  });
});
