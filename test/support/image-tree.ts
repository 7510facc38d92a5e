import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountAll, remoteSnapshotter, unmountAll } from '@flotilla/snapshots';
import { dialUnix } from '@flotilla/rpc/client';
import { REGISTRY } from './fixtures.js';
import { readTree, type Tree } from './tree.js';

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

async function registryJson(path: string): Promise<{ mediaType?: string; [k: string]: unknown }> {
  const res = await fetch(`http://${REGISTRY}/v2/${path}`, { headers: { accept: ACCEPT } });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
  return (await res.json()) as { mediaType?: string };
}

/**
 * The chain ID of an image's top layer for linux/amd64, read from the fixtures registry: the name its
 * unpacked root filesystem has in every snapshotter (OCI image spec: chainID(n) = sha256(chainID(n-1) + " " +
 * diffID(n))).
 */
export async function imageChainId(repo: string, tag = 'latest'): Promise<string> {
  let manifest = await registryJson(`${repo}/manifests/${tag}`);
  if (Array.isArray(manifest['manifests'])) {
    const entries = manifest['manifests'] as { digest: string; platform?: { architecture?: string; os?: string } }[];
    const amd64 = entries.find((m) => m.platform?.architecture === 'amd64' && m.platform.os === 'linux');
    if (!amd64) throw new Error(`${repo}:${tag} has no linux/amd64 manifest`);
    manifest = await registryJson(`${repo}/manifests/${amd64.digest}`);
  }
  const config = (await registryJson(`${repo}/blobs/${(manifest['config'] as { digest: string }).digest}`)) as { rootfs: { diff_ids: string[] } };
  let chain = '';
  for (const diffId of config.rootfs.diff_ids) {
    chain = chain === '' ? diffId : `sha256:${createHash('sha256').update(`${chain} ${diffId}`).digest('hex')}`;
  }
  return chain;
}

/**
 * Read the tree of a committed snapshot as a daemon serves it: a read-only view is made through the
 * daemon's Snapshots API (containerd's or the gateway's), mounted, walked, unmounted and removed.
 */
export async function readSnapshotTree(address: string, namespace: string, snapshotter: string, name: string): Promise<Tree> {
  const channel = dialUnix(address);
  const sn = remoteSnapshotter(channel, snapshotter, { namespace });
  const key = `tree-view-${process.pid}-${Date.now()}`;
  const target = mkdtempSync(join(tmpdir(), 'tree-view-'));
  try {
    const mounts = await sn.view(key, name);
    await mountAll(mounts, target);
    try {
      return await readTree(target);
    } finally {
      await unmountAll(target);
    }
  } finally {
    await sn.remove(key).catch(() => {});
    channel.close();
    rmSync(target, { recursive: true, force: true });
  }
}
