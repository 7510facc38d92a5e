import type { ContainerStore } from '../metadata/containers.js';
import type { ImageStore } from '../metadata/images.js';
import type { RootSource } from './collect.js';
import { containerNode, contentNode, labelReferences, snapshotNode } from './references.js';

/**
 * The metadata records garbage collection never removes, and what each keeps alive: the sources of roots
 * the collector asks at every collection.
 */

/** An image holds its target and whatever its own gc.ref labels name, blobs and snapshots alike. */
export function imageRoots(images: ImageStore): RootSource {
  return function* () {
    for (const img of images.roots()) {
      yield contentNode(img.namespace, img.digest);
      yield* labelReferences(img.namespace, img.labels);
    }
  };
}

/**
 * A container holds its root filesystem (the snapshot `snapshot_key` names in `snapshotter`: its parents
 * follow, so the image's unpacked layers stay while a container stands on them even once the image is
 * deleted), whatever its gc.ref labels name, and its image while that exists, as the image itself would
 * (which matters once images can expire). The container is a root node of its own too, for objects that
 * tie themselves to it with `containerd.io/gc.bref.container` labels.
 */
export function containerRoots(containers: ContainerStore, images: ImageStore): RootSource {
  return function* () {
    const roots = containers.roots();
    if (roots.length === 0) return;
    const imageByName = new Map<string, { digest: string; labels: Readonly<Record<string, string>> }>();
    for (const img of images.roots()) imageByName.set(`${img.namespace}\0${img.name}`, img);
    for (const c of roots) {
      yield containerNode(c.namespace, c.id);
      if (c.snapshotter !== '') yield snapshotNode(c.namespace, c.snapshotter, c.snapshotKey);
      yield* labelReferences(c.namespace, c.labels);
      const image = c.image === '' ? undefined : imageByName.get(`${c.namespace}\0${c.image}`);
      if (image) {
        yield contentNode(c.namespace, image.digest);
        yield* labelReferences(c.namespace, image.labels);
      }
    }
  };
}
