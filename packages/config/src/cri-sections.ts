/** The CRI plugin sections, before and after containerd 2.0 split the one plugin into three. */

/** Version 2's single CRI section; in version 3 it keeps only the CRI gRPC server's own settings. */
export const CRI_GRPC = 'io.containerd.grpc.v1.cri';
/** Version 3: image pulls, the registry, the snapshotter, pinned images. */
export const CRI_IMAGES = 'io.containerd.cri.v1.images';
/** Version 3: runtimes, CNI and everything else about running pods. */
export const CRI_RUNTIME = 'io.containerd.cri.v1.runtime';

/** Top-level version 2 CRI keys that belong to the images plugin. */
export const criImageKeys = [
  'registry',
  'image_decryption',
  'max_concurrent_downloads',
  'image_pull_progress_timeout',
  'image_pull_with_sync_fs',
  'stats_collect_period',
] as const;

/** Keys of version 2's `containerd` table that belong to the images plugin. */
export const criImageContainerdKeys = ['snapshotter', 'disable_snapshot_annotations', 'discard_unpacked_layers'] as const;

/** Top-level version 2 CRI keys that stay with the CRI gRPC server (streaming and its TCP listener). */
export const criServerKeys = [
  'disable_tcp_service',
  'stream_server_address',
  'stream_server_port',
  'stream_idle_timeout',
  'enable_tls_streaming',
  'x509_key_pair_streaming',
] as const;

/** The platform containerd's platforms.DefaultStrict() names on this machine. */
export function hostPlatform(): string {
  const arch: Record<string, string> = {
    x64: 'amd64', arm64: 'arm64/v8', arm: 'arm/v7', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64',
  };
  return `linux/${arch[process.arch] ?? process.arch}`;
}
