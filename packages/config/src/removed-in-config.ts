import { InvalidArgumentError } from '@flotilla/errdefs';
import { formatKey, isTable, type Table } from './table.js';
import { CRI_IMAGES, CRI_RUNTIME } from './cri-sections.js';
import { RUNC_V2, removedRuntime, removedSnapshotter } from './removed-features.js';

const TRANSFER = 'io.containerd.transfer.v1.local';

/**
 * Refuse a configuration that selects something containerd 2.0 removed: a runtime whose type is a removed
 * runtime, or `aufs` as a snapshotter (unless a proxy plugin of that name provides one). The error names
 * the key and what to write instead; migration has already moved legacy options where the replacement
 * runtime reads them.
 */
export function refuseRemovedInConfig(doc: Table): void {
  const plugins = isTable(doc['plugins']) ? doc['plugins'] : {};
  const proxies = isTable(doc['proxy_plugins']) ? doc['proxy_plugins'] : {};
  const runtimeKey = (name: string) => ['plugins', CRI_RUNTIME, 'containerd', 'runtimes', name, 'runtime_type'];

  const runtime = plugins[CRI_RUNTIME];
  const containerd = isTable(runtime) && isTable(runtime['containerd']) ? runtime['containerd'] : {};
  const runtimes = isTable(containerd['runtimes']) ? containerd['runtimes'] : {};
  for (const [name, rt] of Object.entries(runtimes)) {
    if (!isTable(rt) || typeof rt['runtime_type'] !== 'string') continue;
    const why = removedRuntime(rt['runtime_type']);
    if (why === undefined) continue;
    const selected = containerd['default_runtime_name'] === name ? ' (the default runtime)' : '';
    throw new InvalidArgumentError(
      `${formatKey(runtimeKey(name))} = ${JSON.stringify(rt['runtime_type'])}${selected}: ${why}; set runtime_type = "${RUNC_V2}"`
      + ' (its runc options, BinaryName, Root and SystemdCgroup, carry over)',
    );
  }
  const defaultName = containerd['default_runtime_name'];
  if (typeof defaultName === 'string' && removedRuntime(defaultName) !== undefined && runtimes[defaultName] === undefined) {
    throw new InvalidArgumentError(
      `${formatKey(['plugins', CRI_RUNTIME, 'containerd', 'default_runtime_name'])} = ${JSON.stringify(defaultName)}: ${removedRuntime(defaultName)}; `
      + `name a runtime whose runtime_type is "${RUNC_V2}"`,
    );
  }

  const snapshotterAt = (path: string[], value: unknown) => {
    if (typeof value !== 'string') return;
    const why = removedSnapshotter(value);
    const proxy = proxies[value];
    if (why === undefined || (isTable(proxy) && ['snapshot', 'io.containerd.snapshotter.v1'].includes(proxy['type'] as string))) return;
    throw new InvalidArgumentError(`${formatKey(path)} = ${JSON.stringify(value)}: ${why}`);
  };
  const images = isTable(plugins[CRI_IMAGES]) ? plugins[CRI_IMAGES] : {};
  snapshotterAt(['plugins', CRI_IMAGES, 'snapshotter'], images['snapshotter']);
  const platforms = isTable(images['runtime_platforms']) ? images['runtime_platforms'] : {};
  for (const [name, p] of Object.entries(platforms)) {
    if (isTable(p)) snapshotterAt(['plugins', CRI_IMAGES, 'runtime_platforms', name, 'snapshotter'], p['snapshotter']);
  }
  for (const [name, rt] of Object.entries(runtimes)) {
    if (isTable(rt)) snapshotterAt(['plugins', CRI_RUNTIME, 'containerd', 'runtimes', name, 'snapshotter'], rt['snapshotter']);
  }
  const transfer = plugins[TRANSFER];
  const unpack = isTable(transfer) && Array.isArray(transfer['unpack_config']) ? transfer['unpack_config'] : [];
  unpack.forEach((u, i) => {
    if (isTable(u)) snapshotterAt(['plugins', TRANSFER, 'unpack_config', String(i), 'snapshotter'], u['snapshotter']);
  });
}
