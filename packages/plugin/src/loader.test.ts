import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FailedPreconditionError, NotFoundError, grpcCodeOf } from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import { loadPlugins, orderByRequires } from './loader.js';
import { SkipPluginError } from './skip.js';
import { PluginType } from './types.js';
import type { Registration } from './registration.js';

const log = createLogger({ service: 'test', level: 'silent' });
let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'loader-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const opts = () => ({ root: join(dir, 'root'), state: join(dir, 'state'), log });

const reg = (type: PluginType, id: string, extra: Partial<Registration> = {}): Registration => ({ type, id, init: () => `${type}.${id}`, ...extra });

describe('orderByRequires', () => {
  it('puts requirements first and * last, keeping the rest in registration order', () => {
    const order = orderByRequires([
      reg(PluginType.GRPC, 'introspection', { requires: ['*'] }),
      reg(PluginType.GRPC, 'content', { requires: [PluginType.Content] }),
      reg(PluginType.Content, 'content', { requires: [PluginType.Metadata] }),
      reg(PluginType.Metadata, 'sqlite'),
      reg(PluginType.Snapshotter, 'overlayfs'),
    ]).map((r) => r.id);
    expect(order).toEqual(['sqlite', 'content', 'content', 'overlayfs', 'introspection']);
    expect(order.indexOf('introspection')).toBe(order.length - 1);
  });

  it('rejects cycles and duplicates', () => {
    expect(() => orderByRequires([
      reg(PluginType.Content, 'a', { requires: [PluginType.Metadata] }),
      reg(PluginType.Metadata, 'b', { requires: [PluginType.Content] }),
    ])).toThrow(FailedPreconditionError);
    expect(() => orderByRequires([reg(PluginType.Content, 'a'), reg(PluginType.Content, 'a')])).toThrow(/registered twice/);
  });
});

describe('loadPlugins', () => {
  it('hands each init its dependencies, config and private directories', async () => {
    const seen: unknown[] = [];
    const loaded = await loadPlugins([
      reg(PluginType.GRPC, 'svc', {
        requires: [PluginType.Content],
        config: { a: 1, b: 2 },
        init: (ctx) => {
          seen.push(ctx.get(PluginType.Content), ctx.config, statSync(ctx.root).isDirectory(), ctx.root.endsWith('io.containerd.grpc.v1.svc'));
          ctx.exports['root'] = ctx.root;
          ctx.capabilities.push('rebase');
          expect(() => ctx.get(PluginType.Snapshotter)).toThrow(NotFoundError);
          return 'svc';
        },
      }),
      reg(PluginType.Content, 'content', { init: () => ({ store: true }) }),
    ], { ...opts(), config: { 'io.containerd.grpc.v1.svc': { b: 3 } } });
    expect(seen).toEqual([{ store: true }, { a: 1, b: 3 }, true, true]);
    const svc = loaded.find((p) => p.id === 'svc');
    expect(svc?.capabilities).toEqual(['rebase']);
    expect(svc?.exports['root']).toMatch(/io\.containerd\.grpc\.v1\.svc$/);
  });

  it('records skips and failures, fails dependents of a failed plugin, and honours disabled', async () => {
    const loaded = await loadPlugins([
      reg(PluginType.Snapshotter, 'aufs', { init: () => { throw new SkipPluginError('aufs is not supported'); } }),
      reg(PluginType.Content, 'broken', { init: () => { throw new NotFoundError('no root'); } }),
      reg(PluginType.GRPC, 'content', { requires: [PluginType.Content] }),
      reg(PluginType.Snapshotter, 'blockfile'),
    ], { ...opts(), disabled: ['io.containerd.snapshotter.v1.blockfile'] });
    const by = (id: string) => loaded.find((p) => p.id === id);
    expect(by('aufs')?.skipped).toBe('aufs is not supported: skip plugin');
    expect(by('broken')?.error).toEqual({ code: grpcCodeOf('NotFound'), message: 'no root: not found' });
    expect(by('content')?.error?.code).toBe(grpcCodeOf('FailedPrecondition'));
    expect(by('content')?.error?.message).toMatch(/io\.containerd\.content\.v1\.broken/);
    expect(by('blockfile')?.skipped).toBe('disabled by config');
    expect(loaded.every((p) => p.instance === undefined)).toBe(true);
  });
});
