import type { ContainerStore } from '../metadata/containers.js';
import type { RootSource } from './collect.js';
import { containerNode, labelReferences, snapshotNode } from './references.js';

/**
 * The metadata records garbage collection never removes, and what each keeps alive: the sources of roots
 * the collector asks at every collection. (Images are nodes of the collector's own, since they can expire.)
 */

/**
 * A container holds its root filesystem (the snapshot `snapshot_key` names in `snapshotter`: its parents
 * follow, so the image's unpacked layers stay while a container stands on them even once the image is
 * deleted) and whatever its gc.ref labels name; not its image, as in containerd (an image that is not
 * deleted is a root of its own, and one that expired goes even while containers use it). The container is
 * a root node of its own too, for objects that tie themselves to it with `containerd.io/gc.bref.container`
 * labels.
 */
export function containerRoots(containers: ContainerStore): RootSource {
  return function* () {
    for (const c of containers.roots()) {
      yield containerNode(c.namespace, c.id);
      if (c.snapshotter !== '') yield snapshotNode(c.namespace, c.snapshotter, c.snapshotKey);
      yield* labelReferences(c.namespace, c.labels);
    }
  };
}
