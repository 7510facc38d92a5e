import { createHash, randomBytes } from 'node:crypto';
import { applyLayer, compressInto, writeDiff, writeOverlayDiff, type TarSink, type WriteDiffOptions } from '@flotilla/archive';
import { AlreadyExistsError, FailedPreconditionError } from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';
import { syncfs } from '@flotilla/native';
import type { ContentStore } from '@flotilla/service-content';
import type { Mount } from '@flotilla/snapshots';
import {
  LABEL_UNCOMPRESSED,
  MEDIA_TYPE_LAYER,
  MEDIA_TYPE_LAYER_GZIP,
  type ApplyOptions,
  type CallScope,
  type CompareOptions,
  type Descriptor,
  type Differ,
} from './differ.js';
import { diffCompression, layerCompression } from './media-types.js';
import { layerDirs, overlayUpper } from './overlay-layers.js';
import type { LayerPrefetcher } from './layer-prefetch.js';
import { readonlyMounts, withTempMount } from './temp-mount.js';

export interface WalkingDifferOptions {
  /** The content store as a call sees it (its namespace and lease): blobs are looked up and diffs written here. */
  readonly content: (scope: CallScope) => ContentStore;
  /**
   * How to read a blob's bytes once the call's content store (`store`) has found it, if not from that
   * store: behind the gateway, from the content process or its directory (blob-files.ts). Blobs are
   * addressed by digest, so any namespace's view of a blob has the same bytes. `size` is the blob's size
   * as the store reported it.
   */
  readonly readBlob?: (digest: string, store: ContentStore, size: number) => AsyncIterable<Uint8Array>;
  /**
   * Layers inflated ahead of their Apply (layer-prefetch.ts): a compressed layer found there is extracted
   * from its tar instead of being inflated again.
   */
  readonly prefetched?: Pick<LayerPrefetcher, 'take'>;
  /** Directory for the temporary mount points of mounts that must be mounted to be read or written. */
  readonly tempMounts: string;
  readonly log: Logger;
}

/**
 * containerd's walking differ with its file-system applier: layers are applied straight into an overlay
 * snapshot's upper directory (whiteouts in overlay form) or onto the mounted snapshot; diffs are read
 * from an overlay snapshot's upper directory when its lower is the snapshot's parent, else by walking
 * both mounted trees.
 */
export function createWalkingDiffer(opts: WalkingDifferOptions): Differ {
  const { log } = opts;

  async function apply(desc: Descriptor, mounts: readonly Mount[], aopts: ApplyOptions = {}): Promise<Descriptor> {
    const started = performance.now();
    const compression = layerCompression(desc.mediaType);
    const store = opts.content(aopts);
    const lookUp = async (): Promise<{ size: number; uncompressed?: string | undefined }> => {
      if (aopts.checked !== undefined && aopts.checked.digest === desc.digest) return aopts.checked;
      const i = await store.info(desc.digest);
      return { size: i.size, uncompressed: i.labels[LABEL_UNCOMPRESSED] };
    };
    const info = await lookUp();
    const expected = aopts.expectedDiffId ?? desc.annotations?.[LABEL_UNCOMPRESSED] ?? info.uncompressed;
    // Only a layer its media type says may be compressed: the prefetcher inflates by magic number, where
    // a plain tar type is read as it is, whatever it holds.
    const inflated = compression === 'detect' ? await opts.prefetched?.take(desc.digest) : undefined;
    const read = (): AsyncIterable<Uint8Array> => {
      if (inflated !== undefined) return piecesOf(inflated.chunks);
      return opts.readBlob !== undefined ? opts.readBlob(desc.digest, store, info.size) : store.read(desc.digest);
    };
    const common = { compression: inflated !== undefined ? 'none' as const : compression, ...(aopts.signal !== undefined ? { signal: aopts.signal } : {}) };

    const overlay = overlayUpper(mounts);
    const result = overlay !== undefined
      // The snapshot's own upper directory, written without mounting: overlayfs reads whiteouts and opaque
      // directories from it in its own form.
      ? await applyLayer(read(), overlay.upperdir, { ...common, whiteouts: 'overlay', parents: overlay.lowerdirs })
      : await withTempMount(opts.tempMounts, mounts, async (root) => {
        const r = await applyLayer(read(), root, common);
        if (aopts.syncFs === true) await syncfs(root);
        return r;
      });
    if (overlay !== undefined && aopts.syncFs === true) await syncfs(overlay.upperdir);

    if (expected !== undefined && expected !== result.digest) {
      throw new FailedPreconditionError(`wrong diff id calculated on extraction ${JSON.stringify(result.digest)}, expected ${JSON.stringify(expected)}`);
    }
    log.debug({ digest: desc.digest, media: desc.mediaType, size: desc.size, inflated: inflated !== undefined, d: performance.now() - started }, 'diff applied');
    return { mediaType: MEDIA_TYPE_LAYER, digest: result.digest, size: result.size };
  }

  async function compare(lower: readonly Mount[], upper: readonly Mount[], copts: CompareOptions = {}): Promise<Descriptor> {
    const mediaType = copts.mediaType === undefined || copts.mediaType === '' ? MEDIA_TYPE_LAYER_GZIP : copts.mediaType;
    const compression = diffCompression(mediaType);
    const store = opts.content(copts);
    const freshRef = copts.ref === undefined || copts.ref === '';
    const ref = freshRef ? uniqueRef() : copts.ref!;
    const writer = await store.writer({ ref });
    let committed = false;
    try {
      if (!freshRef) await writer.truncate(0);
      const hash = createHash('sha256');
      // The blob's digest is taken here, not asked of the writer: a remote writer knows only what its
      // server last reported, which may lag behind what was sent.
      const blobHash = createHash('sha256');
      const out = compressInto(compression, (chunk) => {
        blobHash.update(chunk);
        return writer.write(chunk);
      });
      const sink: TarSink = async (chunk) => {
        hash.update(chunk);
        await out.write(chunk);
      };
      const wopts = {
        ...(copts.sourceDateEpoch !== undefined ? { sourceDateEpoch: copts.sourceDateEpoch } : {}),
        ...(copts.signal !== undefined ? { signal: copts.signal } : {}),
      };
      await writeLayer(lower, upper, sink, wopts);
      await out.end();

      const labels: Record<string, string> = { ...copts.labels };
      const uncompressed = `sha256:${hash.digest('hex')}`;
      if (compression !== 'none') labels[LABEL_UNCOMPRESSED] = uncompressed;
      const digest = `sha256:${blobHash.digest('hex')}`;
      try {
        await writer.commit(0, digest, { labels });
      } catch (err) {
        if (!(err instanceof AlreadyExistsError)) throw err;
      }
      committed = true;
      let info = await store.info(digest);
      // The blob may have been there already, without the label.
      if (compression !== 'none' && info.labels[LABEL_UNCOMPRESSED] === undefined) {
        info = await store.update({ digest, labels: { [LABEL_UNCOMPRESSED]: uncompressed } }, [`labels.${LABEL_UNCOMPRESSED}`]);
      }
      return { mediaType, digest, size: info.size };
    } finally {
      if (!committed) {
        await writer.close().catch((err: unknown) => log.warn({ err, ref }, 'failed to close diff writer'));
        if (freshRef) await store.abort(ref).catch((err: unknown) => log.warn({ err, ref }, 'failed to delete diff upload'));
      }
    }
  }

  async function writeLayer(lower: readonly Mount[], upper: readonly Mount[], sink: TarSink, wopts: WriteDiffOptions): Promise<void> {
    // An overlay snapshot over exactly the layers `lower` stacks: its upper directory is the diff.
    const active = overlayUpper(upper);
    const below = layerDirs(lower);
    if (active !== undefined && below !== undefined && sameList(active.lowerdirs, below)) {
      if (await writeOverlayDiff(active.upperdir, sink, wopts)) return;
      log.debug({ upperdir: active.upperdir }, 'upper directory uses redirects or metacopy; comparing mounted trees');
    }
    await withTempMount(opts.tempMounts, readonlyMounts(lower), (lowerRoot) =>
      withTempMount(opts.tempMounts, readonlyMounts(upper), (upperRoot) => writeDiff(lowerRoot, upperRoot, sink, wopts)));
  }

  return { apply, compare };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A fresh ingest ref, as containerd's differ makes them (time and a few random bytes). */
function uniqueRef(): string {
  return `${process.hrtime.bigint()}-${randomBytes(3).toString('base64url')}`;
}

async function* piecesOf(chunks: readonly Buffer[]): AsyncGenerator<Uint8Array> {
  yield* chunks;
}
