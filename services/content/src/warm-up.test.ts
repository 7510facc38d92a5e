import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@flotilla/log';
import { loadPlugins, PluginType, warmUpPlugins } from '@flotilla/plugin';
import { createLocalStore } from './local-store.js';
import { contentPlugins } from './plugins.js';
import type { ContentStore } from './store.js';
import { exerciseContentStore } from './warm-up.js';

const log = createLogger({ service: 'test', level: 'silent' });
let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'content-warm-up-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function contents(store: ContentStore): Promise<{ blobs: string[]; ingests: string[] }> {
  const blobs: string[] = [];
  for await (const i of store.list()) blobs.push(i.digest);
  return { blobs, ingests: (await store.listStatuses()).map((s) => s.ref) };
}

describe('content warm-up', () => {
  it('runs every call through the scratch server, and neither the real store nor the scratch keeps anything', async () => {
    const plugins = await loadPlugins(contentPlugins, { root: join(dir, 'root'), state: join(dir, 'state'), log });
    const report = await warmUpPlugins(contentPlugins, plugins, { scratch: join(dir, 'scratch'), log });
    expect(report.failed).toEqual([]);
    expect(report.warmed).toEqual(['io.containerd.grpc.v1.content']);
    const real = plugins.find((p) => p.type === PluginType.Content)!.instance as ContentStore;
    expect(await contents(real)).toEqual({ blobs: [], ingests: [] });
  });

  it('leaves a store as it found it, including a blob it wrote there before', async () => {
    const store = await createLocalStore({ root: join(dir, 'store'), log });
    try {
      await exerciseContentStore(store, 'flotilla.warm-up');
      await exerciseContentStore(store, 'flotilla.warm-up');
      expect(await contents(store)).toEqual({ blobs: [], ingests: [] });
    } finally {
      store.close();
    }
  });
});
