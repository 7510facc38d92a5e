import { describe, expect, it } from 'vitest';
import { parseConfig } from './load.js';

describe('unknown keys and unread sections', () => {
  const text = `version = 3
root = "/r"
typo = 1
oom_score = -500
temp = ""
[grpc]
  address = "/s.sock"
  max_recv_message_size = 16777216
  tcp_adress = "x"
[proxy_plugins.p]
  type = "snapshot"
  address = "/p.sock"
  adress = "/typo"
[plugins."io.containerd.snapshotter.v1.overlayfs"]
  upperdir_label = true
  slow_chown = true
  upperdirlabel = true
[plugins."io.containerd.metadata.v1.bolt"]
  content_sharing_policy = "isolated"
[plugins."io.containerd.snapshotter.v1.zfs"]
  root_path = "/z"
`;
  it('reports each with its file, line and key, and starts anyway', () => {
    const { report, config, document } = parseConfig(text, '/etc/flotilla/config.toml');
    expect(report.warnings.map((w) => [w.kind, w.key.join('.'), w.line, w.file])).toEqual([
      ['unknown-key', 'typo', 3, '/etc/flotilla/config.toml'],
      ['no-effect', 'oom_score', 4, '/etc/flotilla/config.toml'],
      ['unknown-key', 'grpc.tcp_adress', 9, '/etc/flotilla/config.toml'],
      ['unknown-key', 'proxy_plugins.p.adress', 13, '/etc/flotilla/config.toml'],
      ['no-effect', 'plugins.io.containerd.snapshotter.v1.overlayfs.slow_chown', 16, '/etc/flotilla/config.toml'],
      ['unknown-key', 'plugins.io.containerd.snapshotter.v1.overlayfs.upperdirlabel', 17, '/etc/flotilla/config.toml'],
      ['unread-section', 'plugins.io.containerd.snapshotter.v1.zfs', 20, '/etc/flotilla/config.toml'],
    ]);
    expect(report.warnings.find((w) => w.kind === 'unread-section')?.plugin).toBe('io.containerd.snapshotter.v1.zfs');
    // Nothing is dropped on the way: unknown keys and unread sections stay in the document.
    expect(document['typo']).toBe(1n);
    expect(config.plugins['io.containerd.snapshotter.v1.zfs']).toEqual({ root_path: '/z' });
    expect(config.plugins['io.containerd.snapshotter.v1.overlayfs']).toEqual({ upperdir_label: true, slow_chown: true, upperdirlabel: true });
  });
});
