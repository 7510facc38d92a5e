import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, NotFoundError } from '@flotilla/errdefs';
import { defaultConfig, loadConfig, parseConfig } from './index.js';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });
const tempDir = () => { const d = mkdtempSync(join(tmpdir(), 'config-')); dirs.push(d); return d; };

describe('parseConfig', () => {
  it('reads a version 3 file with proxy plugins', () => {
    const { config: cfg, report } = parseConfig(`
version = 3
root = "/r"
state = "/s"
disabled_plugins = ["io.containerd.snapshotter.v1.blockfile"]
[grpc]
  address = "/s/f.sock"
[debug]
  level = "debug"
[proxy_plugins.stargz]
  type = "snapshot"
  address = "/run/stargz.sock"
  capabilities = ["rebase"]
  exports = { root = "/var/lib/stargz" }
[plugins."io.containerd.snapshotter.v1.overlayfs"]
  upperdir_label = true
  mount_options = ["volatile"]
`);
    expect(cfg).toMatchObject({
      root: '/r',
      state: '/s',
      grpc: { address: '/s/f.sock' },
      debug: { level: 'debug' },
      disabledPlugins: ['io.containerd.snapshotter.v1.blockfile'],
      proxyPlugins: { stargz: { type: 'snapshot', address: '/run/stargz.sock', capabilities: ['rebase'], exports: { root: '/var/lib/stargz' } } },
    });
    expect(cfg.plugins['io.containerd.snapshotter.v1.overlayfs']).toEqual({ upperdir_label: true, mount_options: ['volatile'] });
    expect(report.warnings).toEqual([]);
    expect(report.moves).toEqual([]);
  });

  it('hands plugins plain numbers, not bigints', () => {
    const { config } = parseConfig('version = 3\n[plugins."io.containerd.gc.v1.scheduler"]\nmutation_threshold = 100\npause_threshold = 0.5\n');
    expect(config.plugins['io.containerd.gc.v1.scheduler']).toEqual({ mutation_threshold: 100, pause_threshold: 0.5 });
  });

  it('names line and column of a syntax error', () => {
    let err: unknown;
    try { parseConfig('version = 3\nroot = \n', '/etc/x.toml'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(/^\/etc\/x\.toml:2:\d+: /);
  });

  it('refuses versions newer than 3 and proxy plugins without an address', () => {
    expect(() => parseConfig('version = 4')).toThrow(/expected config version 3 or lower, got 4/);
    expect(() => parseConfig('version = 3\n[proxy_plugins.x]\ntype = "snapshot"\n')).toThrow(InvalidArgumentError);
  });

  it('reads a file without a version as version 1, as containerd does', () => {
    const loaded = parseConfig('[plugins.overlayfs]\nupperdir_label = true\n');
    expect(loaded.sourceVersion).toBe(1);
    expect(loaded.config.plugins['io.containerd.snapshotter.v1.overlayfs']).toEqual({ upperdir_label: true });
  });

  it('lets flags win over the file', () => {
    const { config, document } = parseConfig('version = 3\nroot = "/r"\n[grpc]\naddress = "/a"\n', 'c.toml', {
      overrides: { root: '/flag-root', state: '/flag-state', address: '/flag.sock', logLevel: 'debug' },
    });
    expect(config).toMatchObject({ root: '/flag-root', state: '/flag-state', grpc: { address: '/flag.sock' }, debug: { level: 'debug' } });
    expect(document['root']).toBe('/flag-root');
  });

  it('merges imports by containerd\'s rules', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'conf.d-a.toml'), `
version = 2
disabled_plugins = ["b", "c"]
[plugins."io.containerd.gc.v1.scheduler"]
  schedule_delay = "1s"
`);
    writeFileSync(join(dir, 'conf.d-b.toml'), 'version = 3\nroot = ""\nstate = "/from-import"\n');
    const main = join(dir, 'config.toml');
    const text = `
version = 3
root = "/r"
imports = ["conf.d-*.toml"]
disabled_plugins = ["a", "b"]
[plugins."io.containerd.gc.v1.scheduler"]
  schedule_delay = "5s"
  interval = "1m"
`;
    writeFileSync(main, text);
    const loaded = parseConfig(text, main);
    expect(loaded.files).toEqual([main, join(dir, 'conf.d-a.toml'), join(dir, 'conf.d-b.toml')]);
    // Lists gain what they lacked; an imported plugin section replaces the whole section; an empty value
    // does not override.
    expect(loaded.config.disabledPlugins).toEqual(['a', 'b', 'c']);
    expect(loaded.config.plugins['io.containerd.gc.v1.scheduler']).toEqual({ schedule_delay: '1s' });
    expect(loaded.config.root).toBe('/r');
    expect(loaded.config.state).toBe('/from-import');
  });

  it('refuses an import newer than the file that imports it', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'new.toml'), 'version = 3\n');
    const main = join(dir, 'config.toml');
    expect(() => parseConfig('version = 2\nimports = ["new.toml"]\n', main)).toThrow(/higher than/);
  });
});

describe('loadConfig', () => {
  it('applies the defaults when the default path is absent, and insists on a named one', async () => {
    const dir = tempDir();
    await expect(loadConfig(join(dir, 'nope.toml'))).rejects.toBeInstanceOf(NotFoundError);
    const file = join(dir, 'config.toml');
    writeFileSync(file, 'version = 3\nroot = "/x"\n');
    expect((await loadConfig(file)).config).toEqual({ ...defaultConfig(), root: '/x' });
  });
});
