import { cloneValue, isTable, type Table } from './table.js';
import type { ReportWriter } from './migration-report.js';
import {
  CRI_GRPC,
  CRI_IMAGES,
  CRI_RUNTIME,
  criImageContainerdKeys,
  criImageKeys,
  criServerKeys,
  hostPlatform,
} from './cri-sections.js';

const has = (list: readonly string[], k: string) => list.includes(k);

/**
 * Version 2 to 3: containerd 2.0 splits `io.containerd.grpc.v1.cri` into the images plugin, the runtime
 * plugin and what remains of the gRPC server's own section, each plugin moving the keys it owns. This
 * follows containerd's plugin migrations key for key, except where those lose a setting:
 * - the registry and other image keys move even when the section has no `containerd` table (containerd's
 *   images migration stops early there, and the server migration then deletes them);
 * - a runtime's `snapshotter` becomes `runtime_platforms.<runtime>` (containerd looks for a `snapshot` key
 *   and writes `runtime_platform`, neither of which exists, so the setting never arrives);
 * - every streaming key stays with the server, not only `disable_tcp_service`.
 * A key already set in a version 3 section is kept over the migrated one (the images keys are the
 * exception, as in containerd), and the dropped value is reported.
 */
export function splitCriSection(doc: Table, r: ReportWriter): void {
  const plugins = doc['plugins'];
  if (!isTable(plugins)) return;
  const src = plugins[CRI_GRPC];
  if (!isTable(src)) return;
  const images: Table = isTable(plugins[CRI_IMAGES]) ? plugins[CRI_IMAGES] : {};
  const runtime: Table = isTable(plugins[CRI_RUNTIME]) ? plugins[CRI_RUNTIME] : {};
  const from = (...k: string[]) => ['plugins', CRI_GRPC, ...k];
  const toImages = (...k: string[]) => ['plugins', CRI_IMAGES, ...k];
  const toRuntime = (...k: string[]) => ['plugins', CRI_RUNTIME, ...k];
  const containerd = isTable(src['containerd']) ? src['containerd'] : undefined;

  // The images plugin's share.
  const runtimes = containerd !== undefined && isTable(containerd['runtimes']) ? containerd['runtimes'] : {};
  for (const [name, rt] of Object.entries(runtimes)) {
    if (!isTable(rt) || typeof rt['snapshotter'] !== 'string' || rt['snapshotter'] === '') continue;
    const platforms = isTable(images['runtime_platforms']) ? images['runtime_platforms'] : (images['runtime_platforms'] = {});
    platforms[name] = { platform: hostPlatform(), snapshotter: rt['snapshotter'] };
    r.move(from('containerd', 'runtimes', name, 'snapshotter'), toImages('runtime_platforms', name, 'snapshotter'),
      'images for this runtime are unpacked with its snapshotter; the runtime keeps the key too');
  }
  if (src['sandbox_image'] !== undefined) {
    const pinned = isTable(images['pinned_images']) ? images['pinned_images'] : (images['pinned_images'] = {});
    pinned['sandbox'] = src['sandbox_image'];
    r.move(from('sandbox_image'), toImages('pinned_images', 'sandbox'));
  }
  for (const k of criImageContainerdKeys) {
    if (containerd?.[k] === undefined) continue;
    images[k] = cloneValue(containerd[k]);
    r.move(from('containerd', k), toImages(k));
  }
  for (const k of criImageKeys) {
    if (src[k] === undefined) continue;
    images[k] = cloneValue(src[k]);
    r.move(from(k), toImages(k));
  }

  // The runtime plugin's share: everything else.
  const keep = (target: Table, k: string, v: unknown, fromKey: string[], toKey: string[]) => {
    if (target[k] === undefined) {
      target[k] = cloneValue(v);
      r.move(fromKey, toKey);
    } else {
      r.drop(fromKey, `${toKey.join('.')} is already set in the version 3 section, which wins`);
      r.warn({ kind: 'migration', key: fromKey, message: `not migrated: the version 3 section already sets ${toKey[toKey.length - 1]}` });
    }
  };
  for (const [k, v] of Object.entries(src)) {
    if (k === 'containerd' || k === 'sandbox_image' || has(criImageKeys, k) || has(criServerKeys, k)) continue;
    keep(runtime, k, v, from(k), toRuntime(k));
  }
  if (containerd !== undefined) {
    const target: Table = isTable(runtime['containerd']) ? runtime['containerd'] : {};
    for (const [k, v] of Object.entries(containerd)) {
      if (has(criImageContainerdKeys, k)) continue;
      keep(target, k, v, from('containerd', k), toRuntime('containerd', k));
    }
    runtime['containerd'] = target;
    // containerd 2.0 renamed a runtime's `sandbox_mode` to `sandboxer`.
    const rts = target['runtimes'];
    if (isTable(rts)) {
      for (const [name, rt] of Object.entries(rts)) {
        if (!isTable(rt) || rt['sandbox_mode'] === undefined || rt['sandboxer'] !== undefined) continue;
        rt['sandboxer'] = rt['sandbox_mode'];
        delete rt['sandbox_mode'];
        r.move(toRuntime('containerd', 'runtimes', name, 'sandbox_mode'), toRuntime('containerd', 'runtimes', name, 'sandboxer'));
      }
    }
  }

  // The CRI server keeps its own settings under the old name.
  const server: Table = {};
  for (const k of criServerKeys) {
    if (src[k] === undefined) continue;
    server[k] = src[k];
    r.move(from(k), from(k), 'the CRI gRPC server keeps its own settings');
  }
  if (Object.keys(server).length > 0) plugins[CRI_GRPC] = server;
  else delete plugins[CRI_GRPC];
  if (Object.keys(images).length > 0) plugins[CRI_IMAGES] = images;
  if (Object.keys(runtime).length > 0) plugins[CRI_RUNTIME] = runtime;
}
