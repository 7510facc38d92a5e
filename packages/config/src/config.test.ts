import { describe, expect, it } from 'vitest';
import { FailedPreconditionError, InvalidArgumentError } from '@flotilla/errdefs';
import { parseConfig } from './index.js';

describe('parseConfig', () => {
  it('reads a version 3 file with proxy plugins', () => {
    const cfg = parseConfig(`
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
`);
    expect(cfg).toMatchObject({
      root: '/r',
      state: '/s',
      grpc: { address: '/s/f.sock' },
      debug: { level: 'debug' },
      disabledPlugins: ['io.containerd.snapshotter.v1.blockfile'],
      proxyPlugins: { stargz: { type: 'snapshot', address: '/run/stargz.sock', capabilities: ['rebase'], exports: { root: '/var/lib/stargz' } } },
    });
    expect(cfg.plugins['io.containerd.snapshotter.v1.overlayfs']).toEqual({ upperdir_label: true });
  });

  it('names line and column of a syntax error', () => {
    let err: unknown;
    try { parseConfig('version = 3\nroot = \n', '/etc/x.toml'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(/^\/etc\/x\.toml:2:\d+: /);
  });

  it('refuses versions it cannot read yet and proxy plugins without an address', () => {
    expect(() => parseConfig('version = 2')).toThrow(FailedPreconditionError);
    expect(() => parseConfig('version = 3\n[proxy_plugins.x]\ntype = "snapshot"\n')).toThrow(InvalidArgumentError);
  });
});
