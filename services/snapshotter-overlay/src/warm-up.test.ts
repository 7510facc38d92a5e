import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@flotilla/log';
import { loadPlugins, PluginType, warmUpPlugins } from '@flotilla/plugin';
import type { Snapshotter } from '@flotilla/snapshots';
import { overlayPlugins } from './plugins.js';

const log = createLogger({ service: 'test', level: 'silent' });
let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'overlay-warm-up-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('overlay warm-up', () => {
  it('runs every Snapshots call through the scratch server and leaves the real snapshotter untouched', async () => {
    const plugins = await loadPlugins(overlayPlugins, { root: join(dir, 'root'), state: join(dir, 'state'), log });
    const report = await warmUpPlugins(overlayPlugins, plugins, { scratch: join(dir, 'scratch'), log });
    expect(report.failed).toEqual([]);
    expect(report.warmed).toEqual(['io.containerd.grpc.v1.snapshots']);
    const real = plugins.find((p) => p.type === PluginType.Snapshotter)!.instance as Snapshotter;
    const keys: string[] = [];
    await real.walk((i) => { keys.push(i.name); });
    expect(keys).toEqual([]);
    await real.close();
  });
});
