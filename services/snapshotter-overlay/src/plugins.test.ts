import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@flotilla/log';
import { loadPlugins, PluginType, type LoadedPlugin } from '@flotilla/plugin';
import type { Snapshotter } from '@flotilla/snapshots';
import { overlayPlugins } from './plugins.js';

const log = createLogger({ service: 'test', level: 'silent' });

let dir: string;
let loaded: LoadedPlugin[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'overlay-plugins-'));
});

afterEach(async () => {
  for (const p of loaded) if (p.type === PluginType.Snapshotter) await (p.instance as Snapshotter | undefined)?.close();
  await rm(dir, { recursive: true, force: true });
});

const load = async (config?: Record<string, unknown>) => {
  loaded = await loadPlugins(overlayPlugins, { root: join(dir, 'root'), state: join(dir, 'state'), log, ...(config ? { config } : {}) });
  return loaded;
};

describe('overlayPlugins', () => {
  it('registers io.containerd.snapshotter.v1.overlayfs and the snapshots service over it', async () => {
    const [snapshotter, service] = await load();
    expect(snapshotter).toMatchObject({ type: 'io.containerd.snapshotter.v1', id: 'overlayfs' });
    expect(snapshotter?.error).toBeUndefined();
    expect(service).toMatchObject({ type: 'io.containerd.grpc.v1', id: 'snapshots', requires: ['io.containerd.snapshotter.v1'] });
    expect((service?.instance as { name: string }).name).toBe('containerd.services.snapshots.v1.Snapshots');
  });

  it('keeps its snapshots in its plugin directory, exports it, and advertises no rebase', async () => {
    const [snapshotter] = await load();
    const root = join(dir, 'root', 'io.containerd.snapshotter.v1.overlayfs');
    expect(snapshotter?.exports).toEqual({ root });
    expect(snapshotter?.capabilities).not.toContain('rebase');
    expect(existsSync(join(root, 'metadata.db'))).toBe(true);
  });

  it('takes root_path and sync_remove from its config section', async () => {
    const elsewhere = join(dir, 'elsewhere');
    const [snapshotter] = await load({ 'io.containerd.snapshotter.v1.overlayfs': { root_path: elsewhere, sync_remove: true } });
    expect(snapshotter?.exports).toEqual({ root: elsewhere });
    const sn = snapshotter?.instance as Snapshotter;
    const [m] = await sn.prepare('a', '');
    expect(m?.source.startsWith(join(elsewhere, 'snapshots'))).toBe(true);
    await sn.remove('a');
    expect(existsSync(m!.source)).toBe(false);
  });
});
