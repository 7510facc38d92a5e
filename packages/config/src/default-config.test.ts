import { describe, expect, it } from 'vitest';
import { parse } from 'smol-toml';
import { defaultConfig, parseConfig } from './index.js';
import { defaultDocument, renderDefaultConfig, renderEffectiveConfig, renderMigratedConfig } from './default-config.js';
import { sameValue } from './table.js';

describe('config default, dump and migrate output', () => {
  it('prints a default config that loads without a warning into the built-in defaults', () => {
    const text = renderDefaultConfig();
    const loaded = parseConfig(text, 'default.toml');
    expect(loaded.report.warnings).toEqual([]);
    expect(loaded.report.deprecations).toEqual([]);
    expect({ ...loaded.config, plugins: {} }).toEqual(defaultConfig());
    expect(sameValue(loaded.document, defaultDocument())).toBe(true);
    // Comments explain the values that need it.
    expect(text).toMatch(/# "shared": a namespace may take a blob/);
  });

  it('dumps the file over every default, keeping what the file sets and the file\'s name for a section', () => {
    const loaded = parseConfig(`version = 3
root = "/r"
[plugins."io.containerd.metadata.v1.bolt"]
  content_sharing_policy = "isolated"
[plugins."io.containerd.gc.v1.scheduler"]
  interval = "0"
[plugins."io.containerd.snapshotter.v1.zfs"]
  root_path = "/z"
`, 'c.toml');
    const dumped = parse(renderEffectiveConfig(loaded), { integersAsBigInt: true }) as Record<string, Record<string, unknown>>;
    expect(dumped['root']).toBe('/r');
    expect(dumped['state']).toBe('/run/flotilla');
    expect(dumped['plugins']!['io.containerd.metadata.v1.bolt']).toEqual({ content_sharing_policy: 'isolated' });
    expect(dumped['plugins']!['io.containerd.metadata.v1.sqlite']).toBeUndefined();
    expect(dumped['plugins']!['io.containerd.gc.v1.scheduler']).toEqual({ schedule_delay: '100ms', interval: '0' });
    expect(dumped['plugins']!['io.containerd.snapshotter.v1.zfs']).toEqual({ root_path: '/z' });
    expect(dumped['plugins']!['io.flotilla.process.v1']).toEqual({ initial_backoff: '100ms', max_backoff: '10s', start_timeout: '15s', reclaim_idle_memory: true, warm_up: true, external: {} });
  });

  it('migrates to a version 3 file that loads back to the same document, with nothing left to migrate', () => {
    const loaded = parseConfig(`
[plugins.cri]
  sandbox_image = "pause:3.1"
  [plugins.cri.containerd]
    snapshotter = "overlayfs"
`, 'v1.toml');
    const migrated = renderMigratedConfig(loaded);
    expect(migrated).toMatch(/^# Migrated from version 1/);
    const again = parseConfig(migrated, 'v3.toml');
    expect(sameValue(again.document, loaded.document)).toBe(true);
    expect(again.report.moves).toEqual([]);
    expect(again.report.deprecations).toEqual([]);
  });
});
