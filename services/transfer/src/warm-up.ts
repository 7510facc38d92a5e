import { createHash, randomBytes } from 'node:crypto';
import { chmod, link, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { createTarWriter, type TarWriter } from '@flotilla/archive';
import { join } from 'node:path';
import { Metadata } from 'nice-grpc';
import { Diff } from '@flotilla/proto/containerd/services/diff/v1/diff_pb';
import type { WarmUpContext } from '@flotilla/plugin';
import { clientOf, dialH2 } from '@flotilla/rpc/client';
import { contentService, createLocalStore, remoteContentStore, type ContentStore } from '@flotilla/service-content';
import { mountsToProto, type Mount } from '@flotilla/snapshots';
import { readBlobFile } from './blob-files.js';
import { MEDIA_TYPE_LAYER_GZIP } from './differ.js';
import { diffService } from './server.js';
import { createWalkingDiffer } from './walking-differ.js';
import { createLayerPrefetcher } from './layer-prefetch.js';

/** A small tree with one of each thing a base layer holds: directories, files, a symlink, a hard link, a setuid file. */
async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'bin'), { recursive: true });
  await mkdir(join(root, 'etc/conf.d'), { recursive: true });
  await mkdir(join(root, 'tmp'), { mode: 0o1777 });
  await writeFile(join(root, 'bin/tool'), Buffer.alloc(48 * 1024, 'x'));
  await chmod(join(root, 'bin/tool'), 0o4755);
  await link(join(root, 'bin/tool'), join(root, 'bin/tool-link'));
  await symlink('tool', join(root, 'bin/alias'));
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(root, 'etc/conf.d/a'), 'a\n');
  await writeFile(join(root, 'etc/conf.d/b'), 'b\n');
}

/** The same tree changed the ways a later layer changes one: a file edited, one deleted, a directory replaced. */
async function changeTree(root: string): Promise<void> {
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/ash\n');
  await rm(join(root, 'bin/alias'));
  await rm(join(root, 'etc/conf.d'), { recursive: true });
  await mkdir(join(root, 'etc/conf.d'));
  await writeFile(join(root, 'etc/conf.d/c'), 'c\n');
}

/** A gzip layer of the tar `fill` writes, made in memory. */
async function gzippedTar(fill: (tar: TarWriter) => Promise<void>, level?: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  const tar = createTarWriter((chunk) => { parts.push(chunk); });
  await fill(tar);
  await tar.end();
  return gzipSync(Buffer.concat(parts), level !== undefined ? { level } : {});
}

/** Store `bytes` as a committed blob; its descriptor as a gzip layer. */
async function putLayer(store: ContentStore, ref: string, bytes: Buffer): Promise<{ mediaType: string; digest: string; size: bigint }> {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const w = await store.writer({ ref, total: bytes.length, expected: digest });
  await w.write(bytes);
  await w.commit(bytes.length, digest);
  return { mediaType: MEDIA_TYPE_LAYER_GZIP, digest, size: BigInt(bytes.length) };
}

/**
 * A layer shaped like a real base layer, made in memory: a few hundred symlinks and small files (busybox's
 * applets) and a file of a few MiB that does not compress, so that it is read and inflated as a stream, in
 * pieces. The layers Diff makes of the small trees above leave that per-entry and streaming code cold: the
 * first base layer a fresh process applied took about 40% longer than the same layer applied again.
 */
async function bulkLayer(): Promise<Buffer> {
  return gzippedTar(async (tar) => {
    const mtime = { sec: 1_700_000_000, nsec: 0 };
    await tar.writeHeader({ name: 'usr/', type: 'directory', mode: 0o755, mtime });
    await tar.writeHeader({ name: 'usr/bin/', type: 'directory', mode: 0o755, mtime });
    const big = randomBytes(2 << 20);
    await tar.writeHeader({ name: 'usr/bin/tool', type: 'file', mode: 0o755, size: big.length, mtime });
    await tar.write(big);
    for (let i = 0; i < 300; i++) await tar.writeHeader({ name: `usr/bin/cmd${i}`, type: 'symlink', linkname: 'tool', mtime });
    for (let i = 0; i < 50; i++) {
      const data = Buffer.from(`${i}\n`);
      await tar.writeHeader({ name: `usr/share/f${i}`, type: 'file', mode: 0o644, size: data.length, mtime });
      await tar.write(data);
    }
  }, 1);
}

/**
 * What a later layer does to the one above, made in memory: a whiteout, an opaque directory, a hard link
 * to a file of the layer below (which an overlay upper directory must copy up), a hard link within the
 * layer, a symlink, a setuid file in a new directory. Small, so it is inflated in one call, as most
 * layers after the first are.
 */
async function changesLayer(): Promise<Buffer> {
  return gzippedTar(async (tar) => {
    const mtime = { sec: 1_700_000_100, nsec: 0 };
    const file = async (name: string, text: string, mode = 0o644) => {
      const data = Buffer.from(text);
      await tar.writeHeader({ name, type: 'file', mode, size: data.length, mtime });
      await tar.write(data);
    };
    await tar.writeHeader({ name: 'usr/', type: 'directory', mode: 0o755, mtime });
    await tar.writeHeader({ name: 'usr/bin/', type: 'directory', mode: 0o755, mtime });
    await file('usr/bin/.wh.cmd0', '');
    await tar.writeHeader({ name: 'usr/bin/tool-link', type: 'hardlink', linkname: 'usr/bin/tool', mode: 0o755, mtime });
    await file('usr/bin/new', 'new\n', 0o755);
    await tar.writeHeader({ name: 'usr/bin/new-link', type: 'hardlink', linkname: 'usr/bin/new', mode: 0o755, mtime });
    await tar.writeHeader({ name: 'usr/bin/new-alias', type: 'symlink', linkname: 'new', mtime });
    await tar.writeHeader({ name: 'usr/share/', type: 'directory', mode: 0o755, mtime });
    await file('usr/share/.wh..wh..opq', '');
    await file('usr/share/only', 'only\n');
    await tar.writeHeader({ name: 'usr/lib/', type: 'directory', mode: 0o755, mtime });
    await file('usr/lib/setuid', 'x', 0o4755);
  });
}

const bind = (source: string, ro = false): Mount[] => [{ type: 'bind', source, target: '', options: ['rbind', ro ? 'ro' : 'rw'] }];
/** An overlay snapshot's mounts: `upper` over `lower`, with its work directory. */
const overlayOn = (lower: string, upper: string, work: string): Mount[] => [{
  type: 'overlay',
  source: 'overlay',
  target: '',
  options: [`workdir=${work}`, `upperdir=${upper}`, `lowerdir=${lower}`],
}];

/**
 * The diff service's warm-up (Registration.warmUp). Scratch content and diff services on a scratch socket,
 * a walking differ reading blobs as the real one does (the namespaced service first, then the store's
 * directory), and through the Diff client: a base layer and a change layer (whiteouts, an opaque
 * directory) made by Diff, then applied by Apply onto a bind-mounted snapshot and into an overlay
 * snapshot's upper directory, then a Diff of that overlay snapshot; last, a layer shaped like a real base
 * layer (bulkLayer) applied onto a bind mount, once inflating it and once inflated ahead (layer-prefetch.ts),
 * and a layer of changes to it (changesLayer) into an overlay upper directory above it. Every mount it
 * makes it unmounts.
 */
export async function warmUpDiff(ctx: WarmUpContext): Promise<void> {
  const dir = (name: string) => join(ctx.scratch, name);
  const store = await createLocalStore({ root: dir('content'), log: ctx.log });
  // The differ reaches its content service through the scratch server it is served by.
  let content: ContentStore | undefined;
  // Only told about the bulk layer, below: the other layers take the inflating path.
  const prefetcher = createLayerPrefetcher({ dir: dir('content'), log: ctx.log, watch: false, waitMs: 10_000 });
  const differ = createWalkingDiffer({
    content: () => content!,
    prefetched: prefetcher,
    readBlob: (digest, source, size) => readBlobFile(dir('content'), digest, source, size),
    tempMounts: dir('mounts'),
    log: ctx.log,
  });
  const { address } = await ctx.serve((server) => {
    contentService(() => store).register(server);
    diffService(() => differ).register(server);
  });
  const channel = dialH2(address);
  try {
    content = remoteContentStore(channel);
    const diff = clientOf(Diff, channel);
    const call = { metadata: Metadata({ 'containerd-namespace': 'flotilla.warm-up' }) };

    for (const d of ['base', 'changed', 'applied', 'upper', 'work']) await mkdir(dir(d), { recursive: true });
    await makeTree(dir('base'));
    await makeTree(dir('changed'));
    await changeTree(dir('changed'));
    const baseLayer = (await diff.diff({ left: [], right: mountsToProto(bind(dir('base'), true)), mediaType: MEDIA_TYPE_LAYER_GZIP }, call)).diff;
    const changeLayer = (await diff.diff({ left: mountsToProto(bind(dir('base'), true)), right: mountsToProto(bind(dir('changed'), true)), mediaType: MEDIA_TYPE_LAYER_GZIP }, call)).diff;

    await diff.apply({ diff: baseLayer, mounts: mountsToProto(bind(dir('applied'))) }, call);
    const overlay = overlayOn(dir('applied'), dir('upper'), dir('work'));
    await diff.apply({ diff: changeLayer, mounts: mountsToProto(overlay) }, call);
    await diff.diff({ left: mountsToProto(bind(dir('applied'), true)), right: mountsToProto(overlay), mediaType: MEDIA_TYPE_LAYER_GZIP }, call);

    // A real base layer's shape, onto a bind-mounted snapshot as a pull's first layer goes.
    const bulkDesc = await putLayer(store, 'warm-up-bulk', await bulkLayer());
    await mkdir(dir('bulk'));
    await diff.apply({ diff: bulkDesc, mounts: mountsToProto(bind(dir('bulk'))) }, call);
    // Again, inflated ahead as the prefetcher does for a pull's layers.
    prefetcher.prefetch(bulkDesc.digest);
    await mkdir(dir('bulk-inflated'));
    await diff.apply({ diff: bulkDesc, mounts: mountsToProto(bind(dir('bulk-inflated'))) }, call);

    // A later layer onto it, into an overlay snapshot's upper directory, as a pull's next layers go.
    const changesDesc = await putLayer(store, 'warm-up-changes', await changesLayer());
    for (const d of ['changes-upper', 'changes-work']) await mkdir(dir(d));
    await diff.apply({ diff: changesDesc, mounts: mountsToProto(overlayOn(dir('bulk'), dir('changes-upper'), dir('changes-work'))) }, call);
  } finally {
    channel.close();
    prefetcher.close();
    store.close();
  }
}
