import { describe, expect, it } from 'vitest';
import { splitCriSection } from './cri-split.js';
import { createReport } from './migration-report.js';
import { hostPlatform } from './cri-sections.js';

describe('splitCriSection (version 2 to 3)', () => {
  it('gives the images plugin its keys, the runtime plugin the rest, and the server its own', () => {
    const doc = {
      plugins: {
        'io.containerd.grpc.v1.cri': {
          sandbox_image: 'pause:3.6',
          max_concurrent_downloads: 3n,
          image_pull_progress_timeout: '5m',
          stats_collect_period: 10n,
          enable_selinux: true,
          stream_server_port: '0',
          disable_tcp_service: true,
          x509_key_pair_streaming: { tls_cert_file: '' },
          registry: { config_path: '/etc/containerd/certs.d' },
          image_decryption: { key_model: 'node' },
          cni: { bin_dir: '/opt/cni/bin' },
          containerd: {
            snapshotter: 'overlayfs',
            disable_snapshot_annotations: true,
            discard_unpacked_layers: false,
            default_runtime_name: 'runc',
            runtimes: {
              runc: { runtime_type: 'io.containerd.runc.v2', options: { SystemdCgroup: true } },
              kata: { runtime_type: 'io.containerd.kata.v2', snapshotter: 'devmapper', sandbox_mode: 'shim' },
            },
          },
        },
      },
    };
    const r = createReport();
    splitCriSection(doc, r);
    expect(doc.plugins).toEqual({
      'io.containerd.grpc.v1.cri': {
        stream_server_port: '0',
        disable_tcp_service: true,
        x509_key_pair_streaming: { tls_cert_file: '' },
      },
      'io.containerd.cri.v1.images': {
        runtime_platforms: { kata: { platform: hostPlatform(), snapshotter: 'devmapper' } },
        pinned_images: { sandbox: 'pause:3.6' },
        snapshotter: 'overlayfs',
        disable_snapshot_annotations: true,
        discard_unpacked_layers: false,
        registry: { config_path: '/etc/containerd/certs.d' },
        image_decryption: { key_model: 'node' },
        max_concurrent_downloads: 3n,
        image_pull_progress_timeout: '5m',
        stats_collect_period: 10n,
      },
      'io.containerd.cri.v1.runtime': {
        enable_selinux: true,
        cni: { bin_dir: '/opt/cni/bin' },
        containerd: {
          default_runtime_name: 'runc',
          runtimes: {
            runc: { runtime_type: 'io.containerd.runc.v2', options: { SystemdCgroup: true } },
            kata: { runtime_type: 'io.containerd.kata.v2', snapshotter: 'devmapper', sandboxer: 'shim' },
          },
        },
      },
    });
    expect(r.report.warnings).toEqual([]);
  });

  it('moves the registry even without a containerd table, and leaves a section of server keys only', () => {
    const doc = { plugins: { 'io.containerd.grpc.v1.cri': { registry: { mirrors: {} } } } };
    splitCriSection(doc, createReport());
    expect(doc.plugins).toEqual({ 'io.containerd.cri.v1.images': { registry: { mirrors: {} } } });
  });

  it('keeps a key the version 3 section already sets, and reports the other', () => {
    const doc = {
      plugins: {
        'io.containerd.grpc.v1.cri': { enable_selinux: true },
        'io.containerd.cri.v1.runtime': { enable_selinux: false },
      },
    };
    const r = createReport();
    splitCriSection(doc, r);
    expect(doc.plugins).toEqual({ 'io.containerd.cri.v1.runtime': { enable_selinux: false } });
    expect(r.report.warnings).toHaveLength(1);
    expect(r.report.moves.map((m) => [m.from, m.to])).toEqual([[['plugins', 'io.containerd.grpc.v1.cri', 'enable_selinux'], undefined]]);
  });
});
