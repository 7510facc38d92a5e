import { createHash, randomBytes } from 'node:crypto';
import { Metadata } from 'nice-grpc';
import { createTarWriter } from '@flotilla/archive';
import { Diff } from '@flotilla/proto/containerd/services/diff/v1/diff_pb';
import { Images } from '@flotilla/proto/containerd/services/images/v1/images_pb';
import { Leases } from '@flotilla/proto/containerd/services/leases/v1/leases_pb';
import { Namespaces } from '@flotilla/proto/containerd/services/namespaces/v1/namespace_pb';
import { isNotFound } from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';
import { LEASE_KEY, NAMESPACE_KEY } from '@flotilla/rpc';
import { clientOf, dialH2, type H2Channel } from '@flotilla/rpc/client';
import { remoteContentStore, type ContentStore } from '@flotilla/service-content';
import { mountsToProto, remoteSnapshotter, type Snapshotter } from '@flotilla/snapshots';

/** The namespace the warm-up works in; its events are hidden (Exchange.hide) and it is gone afterwards. */
export const WARM_UP_NAMESPACE = 'flotilla.warm-up';

const MEDIA_LAYER = 'application/vnd.oci.image.layer.v1.tar';
const MEDIA_CONFIG = 'application/vnd.oci.image.config.v1+json';
const MEDIA_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Blob {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly bytes: Uint8Array;
}

function blob(mediaType: string, bytes: Uint8Array): Blob {
  return { mediaType, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length, bytes };
}

const descriptor = (b: Blob) => ({ mediaType: b.mediaType, digest: b.digest, size: BigInt(b.size) });

/** Bytes in the warm-up layer's one file: a layer's size, sent and relayed in pieces as a real one is. */
const LAYER_FILE_BYTES = 1 << 20;

/** An uncompressed tar holding one regular file of `data`. */
async function tarOfOneFile(name: string, data: Uint8Array): Promise<Buffer> {
  const parts: Buffer[] = [];
  const tar = createTarWriter((chunk) => { parts.push(chunk); });
  await tar.writeHeader({ name, type: 'file', mode: 0o644, size: data.length });
  await tar.write(data);
  await tar.end();
  return Buffer.concat(parts);
}

/**
 * A one-layer image: its layer a tar of one file of LAYER_FILE_BYTES that do not compress (so the ingest,
 * the relay to the content process and the apply all move a layer's worth of bytes, in pieces), its
 * config, its manifest.
 */
async function tinyImage(): Promise<{ layer: Blob; config: Blob; manifest: Blob }> {
  const layer = blob(MEDIA_LAYER, await tarOfOneFile('warm-up', randomBytes(LAYER_FILE_BYTES)));
  const config = blob(MEDIA_CONFIG, Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  })));
  const manifest = blob(MEDIA_MANIFEST, Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_MANIFEST,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
  })));
  return { layer, config, manifest };
}

/** Write a blob as containerd's fetch handler does: look it up, then open, stat, write and commit. */
async function ingest(store: ContentStore, b: Blob): Promise<void> {
  await store.info(b.digest).then(() => undefined, (err: unknown) => { if (!isNotFound(err)) throw err; });
  const w = await store.writer({ ref: `${WARM_UP_NAMESPACE}-${b.digest}`, total: b.size, expected: b.digest });
  await w.status();
  await w.write(b.bytes);
  await w.commit(b.size, b.digest);
}

/** Remove everything in the warm-up namespace, then the namespace: what a warm-up left when it was cut short. */
async function clear(channel: H2Channel, store: ContentStore, sn: Snapshotter | undefined): Promise<void> {
  const call = { metadata: Metadata({ [NAMESPACE_KEY]: WARM_UP_NAMESPACE }) };
  const namespaces = clientOf(Namespaces, channel);
  // Not Get: as containerd's, it answers for any name.
  if (!(await namespaces.list({})).namespaces.some((n) => n.name === WARM_UP_NAMESPACE)) return;
  const leases = clientOf(Leases, channel);
  for (const l of (await leases.list({}, call)).leases) await leases.delete({ id: l.id }, call);
  const images = clientOf(Images, channel);
  for (const i of (await images.list({}, call)).images) await images.delete({ name: i.name }, call);
  if (sn) {
    const keys: string[] = [];
    await sn.walk((info) => { keys.push(info.name); });
    // Children before parents: a snapshot with children cannot go, so go round until none is left.
    for (let left = keys; left.length > 0;) {
      const next: string[] = [];
      for (const k of left) await sn.remove(k).catch(() => next.push(k));
      if (next.length === left.length) break;
      left = next;
    }
  }
  for await (const info of store.list()) await store.delete(info.digest);
  for (const st of await store.listStatuses()) await store.abort(st.ref);
  await namespaces.delete({ name: WARM_UP_NAMESPACE });
}

export interface GatewayWarmUpOptions {
  /** The gateway's own socket: the warm-up is a client of it, so its server and codecs run too. */
  readonly address: string;
  /** The snapshotter to unpack into (containerd's default, overlayfs); none skips the unpack. */
  readonly snapshotter?: string;
  readonly log: Logger;
}

/**
 * The gateway's warm-up: once the processes an image pull goes through are up, the gateway pulls a
 * one-layer image of its own making through its own socket, the calls and their order those of ctr's
 * pull (a lease; lookups, writes and label updates of the manifest, config and layer; the image; then a
 * snapshot prepared, the layer applied by the diff service, the snapshot committed), and removes it all
 * again: the image deleted with a synchronous collection, then anything left, then the namespace. Every
 * code path the first real pull takes through the gateway and its proxies has then run once; see
 * @flotilla/plugin's warm-up.ts for why that matters. It works in WARM_UP_NAMESPACE, whose events the
 * gateway hides while it runs; what an interrupted warm-up left there is removed the next time.
 */
export async function warmUpGateway(opts: GatewayWarmUpOptions): Promise<void> {
  const channel = dialH2(opts.address);
  try {
    const ns = WARM_UP_NAMESPACE;
    const unleased = remoteContentStore(channel, { namespace: ns });
    const unleasedSn = opts.snapshotter !== undefined ? remoteSnapshotter(channel, opts.snapshotter, { namespace: ns }) : undefined;
    await clear(channel, unleased, unleasedSn);

    const leases = clientOf(Leases, channel);
    const nsCall = { metadata: Metadata({ [NAMESPACE_KEY]: ns }) };
    const expire = new Date(Date.now() + 3600_000).toISOString();
    const { lease } = await leases.create({ id: `${ns}-pull`, labels: { 'containerd.io/gc.expire': expire } }, nsCall);
    const leaseId = lease!.id;
    const call = { metadata: Metadata({ [NAMESPACE_KEY]: ns, [LEASE_KEY]: leaseId }) };
    const store = remoteContentStore(channel, { namespace: ns, lease: leaseId });

    const { layer, config, manifest } = await tinyImage();
    await ingest(store, manifest);
    await store.info(manifest.digest);
    for await (const _ of store.read(manifest.digest)) { /* drain */ }
    await store.listStatuses([]);
    await ingest(store, config);
    await ingest(store, layer);
    await store.update({
      digest: manifest.digest,
      labels: { 'containerd.io/gc.ref.content.config': config.digest, 'containerd.io/gc.ref.content.l.0': layer.digest },
    }, ['labels.containerd.io/gc.ref.content.config', 'labels.containerd.io/gc.ref.content.l.0']);
    const images = clientOf(Images, channel);
    const name = `${ns}/image:latest`;
    await images.create({ image: { name, target: descriptor(manifest) } }, call);

    if (opts.snapshotter !== undefined) {
      const sn = remoteSnapshotter(channel, opts.snapshotter, { namespace: ns, lease: leaseId });
      // A one-layer image's chain ID is its layer's diff ID.
      const chainId = layer.digest;
      await sn.stat(chainId).catch((err: unknown) => { if (!isNotFound(err)) throw err; });
      const key = `extract-${Date.now()}-warm-up ${chainId}`;
      const mounts = await sn.prepare(key, '', { labels: { 'containerd.io/snapshot.ref': chainId } });
      await clientOf(Diff, channel).apply({ diff: descriptor(layer), mounts: mountsToProto(mounts) }, call);
      await sn.commit(chainId, key, { labels: { 'containerd.io/snapshot.ref': chainId } });
      await store.update(
        { digest: config.digest, labels: { [`containerd.io/gc.ref.snapshot.${opts.snapshotter}`]: chainId } },
        [`labels.containerd.io/gc.ref.snapshot.${opts.snapshotter}`],
      );
    }
    await leases.delete({ id: leaseId }, nsCall);
    // What the image held goes in the collection this runs before it answers.
    await images.delete({ name, sync: true }, nsCall);
    await clear(channel, unleased, unleasedSn);
  } finally {
    channel.close();
  }
}
