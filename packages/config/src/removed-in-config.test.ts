import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { refuseRemovedInConfig } from './removed-in-config.js';
import { parseConfig } from './load.js';

describe('removed features in the config', () => {
  it.each(['io.containerd.runtime.v1.linux', 'io.containerd.runc.v1'])('refuses a runtime of type %s, naming the key and io.containerd.runc.v2', (type) => {
    const text = `version = 3
[plugins."io.containerd.cri.v1.runtime".containerd]
  default_runtime_name = "old"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.old]
    runtime_type = "${type}"
`;
    expect(() => parseConfig(text, '/etc/f.toml')).toThrow(InvalidArgumentError);
    expect(() => parseConfig(text, '/etc/f.toml')).toThrow(
      /^\/etc\/f\.toml: plugins\."io\.containerd\.cri\.v1\.runtime"\.containerd\.runtimes\.old\.runtime_type = .*\(the default runtime\): .*set runtime_type = "io\.containerd\.runc\.v2"/,
    );
  });

  it('refuses a version 1 runtime after migrating its options, so they are ready for runc v2', () => {
    expect(() => parseConfig(`
[plugins.cri.containerd.default_runtime]
  runtime_type = "io.containerd.runtime.v1.linux"
  runtime_engine = "/usr/bin/runc"
`)).toThrow(/runtimes\.default\.runtime_type = "io\.containerd\.runtime\.v1\.linux"/);
  });

  it('refuses aufs as a snapshotter wherever one is chosen, unless a proxy plugin is called aufs', () => {
    const cases = [
      { plugins: { 'io.containerd.cri.v1.images': { snapshotter: 'aufs' } } },
      { plugins: { 'io.containerd.cri.v1.images': { runtime_platforms: { r: { snapshotter: 'aufs' } } } } },
      { plugins: { 'io.containerd.cri.v1.runtime': { containerd: { runtimes: { r: { runtime_type: 'io.containerd.runc.v2', snapshotter: 'aufs' } } } } } },
      { plugins: { 'io.containerd.transfer.v1.local': { unpack_config: [{ platform: 'linux/amd64', snapshotter: 'aufs' }] } } },
    ];
    for (const doc of cases) expect(() => refuseRemovedInConfig(doc)).toThrow(/= "aufs": the aufs snapshotter was removed in containerd 2\.0; use overlayfs/);
    expect(() => refuseRemovedInConfig({
      ...cases[0],
      proxy_plugins: { aufs: { type: 'snapshot', address: '/run/aufs.sock' } },
    })).not.toThrow();
  });

  it('accepts what containerd 2.0 accepts', () => {
    expect(() => refuseRemovedInConfig({
      plugins: {
        'io.containerd.cri.v1.images': { snapshotter: 'overlayfs' },
        'io.containerd.cri.v1.runtime': { containerd: { default_runtime_name: 'runc', runtimes: { runc: { runtime_type: 'io.containerd.runc.v2' } } } },
      },
    })).not.toThrow();
  });
});
