/**
 * What garbage collection sees: objects (nodes) and the labels by which one keeps others alive, as
 * containerd's core/metadata/gc.go reads them. Every store that labels objects (content, snapshots, images,
 * containers) turns its labels into nodes here, so that a label means the same thing wherever it is set.
 */

/** Labels garbage collection reads, as containerd names them. */
export const GC_ROOT_LABEL = 'containerd.io/gc.root';
export const GC_EXPIRE_LABEL = 'containerd.io/gc.expire';
export const GC_FLAT_LABEL = 'containerd.io/gc.flat';
export const GC_REF_CONTENT_PREFIX = 'containerd.io/gc.ref.content';
export const GC_REF_SNAPSHOT_PREFIX = 'containerd.io/gc.ref.snapshot.';
export const GC_BREF_CONTENT_PREFIX = 'containerd.io/gc.bref.content';
export const GC_BREF_SNAPSHOT_PREFIX = 'containerd.io/gc.bref.snapshot.';
export const GC_BREF_CONTAINER_PREFIX = 'containerd.io/gc.bref.container';
export const GC_REF_IMAGE_PREFIX = 'containerd.io/gc.ref.image';
export const GC_BREF_IMAGE_PREFIX = 'containerd.io/gc.bref.image';

/** A blob as one namespace holds it. */
export interface ContentNode {
  readonly type: 'content';
  readonly namespace: string;
  readonly digest: string;
}

/** A snapshot as one namespace names it in one snapshotter (its key, or its name once committed). */
export interface SnapshotNode {
  readonly type: 'snapshot';
  readonly namespace: string;
  readonly snapshotter: string;
  readonly key: string;
}

/**
 * A container. Never collected (only a client deletes one), so it is only ever a root; it is a node so that
 * content and snapshots can name it in `containerd.io/gc.bref.container*` labels and live as long as it.
 */
export interface ContainerNode {
  readonly type: 'container';
  readonly namespace: string;
  readonly id: string;
}

/**
 * An image record. One without `containerd.io/gc.expire`, or whose expiry is still ahead, is a root; an
 * expired one lives only while something names it (a `containerd.io/gc.ref.image*` label, or an object it
 * belongs to through `containerd.io/gc.bref.image*`) and is otherwise deleted by the collection.
 */
export interface ImageNode {
  readonly type: 'image';
  readonly namespace: string;
  readonly name: string;
}

export type GcNode = ContentNode | SnapshotNode | ContainerNode | ImageNode;

export const contentNode = (namespace: string, digest: string): ContentNode => ({ type: 'content', namespace, digest });
export const snapshotNode = (namespace: string, snapshotter: string, key: string): SnapshotNode => ({ type: 'snapshot', namespace, snapshotter, key });
export const containerNode = (namespace: string, id: string): ContainerNode => ({ type: 'container', namespace, id });
export const imageNode = (namespace: string, name: string): ImageNode => ({ type: 'image', namespace, name });

/** One string per node, for sets and maps; NUL cannot occur in any of the parts. */
export function nodeId(n: GcNode): string {
  switch (n.type) {
    case 'content':
      return `c\0${n.namespace}\0${n.digest}`;
    case 'snapshot':
      return `s\0${n.namespace}\0${n.snapshotter}\0${n.key}`;
    case 'container':
      return `k\0${n.namespace}\0${n.id}`;
    case 'image':
      return `i\0${n.namespace}\0${n.name}`;
  }
}

/**
 * A label family with a name of its own after the prefix is written `<prefix>`, `<prefix>.<name>` or
 * `<prefix>/<name>` (`containerd.io/gc.ref.content.l.0`); anything else merely starting with the prefix
 * (`containerd.io/gc.ref.contents`) is some other label.
 */
function inFamily(key: string, prefix: string): boolean {
  if (!key.startsWith(prefix)) return false;
  const next = key.charAt(prefix.length);
  return next === '' || next === '.' || next === '/';
}

/**
 * The snapshotter named by a `…snapshot.<snapshotter>` label: what follows the prefix, up to a '/' that
 * lets one object name several snapshots of one snapshotter (`containerd.io/gc.ref.snapshot.overlayfs/1`).
 */
function snapshotterOf(key: string, prefix: string): string {
  const rest = key.slice(prefix.length);
  const slash = rest.indexOf('/');
  return slash < 0 ? rest : rest.slice(0, slash);
}

/** Whether the labels make their object a root: `containerd.io/gc.root` (any value; containerd matches by prefix). */
export function isRoot(labels: Readonly<Record<string, string>>): boolean {
  for (const k in labels) if (k.startsWith(GC_ROOT_LABEL)) return true;
  return false;
}

/**
 * What an object keeps alive through its labels, in its own namespace: `containerd.io/gc.ref.content*`
 * name blobs, `containerd.io/gc.ref.image*` images, `containerd.io/gc.ref.snapshot.<snapshotter>*`
 * snapshots (image config blobs carry one per snapshotter the image was unpacked into, naming the chain's
 * top snapshot).
 */
export function labelReferences(namespace: string, labels: Readonly<Record<string, string>>): GcNode[] {
  const out: GcNode[] = [];
  for (const [k, v] of Object.entries(labels)) {
    if (inFamily(k, GC_REF_CONTENT_PREFIX)) out.push(contentNode(namespace, v));
    else if (inFamily(k, GC_REF_IMAGE_PREFIX)) out.push(imageNode(namespace, v));
    else if (k.startsWith(GC_REF_SNAPSHOT_PREFIX)) out.push(snapshotNode(namespace, snapshotterOf(k, GC_REF_SNAPSHOT_PREFIX), v));
  }
  return out;
}

/**
 * The other direction (`containerd.io/gc.bref.content*`, `containerd.io/gc.bref.snapshot.<snapshotter>*`,
 * `containerd.io/gc.bref.container*`): the object names what it belongs to, and lives as long as that
 * does, without the owner having to be relabelled or even to exist yet.
 */
export function labelBackReferences(namespace: string, labels: Readonly<Record<string, string>>): GcNode[] {
  const out: GcNode[] = [];
  for (const [k, v] of Object.entries(labels)) {
    if (inFamily(k, GC_BREF_CONTENT_PREFIX)) out.push(contentNode(namespace, v));
    else if (k.startsWith(GC_BREF_SNAPSHOT_PREFIX)) out.push(snapshotNode(namespace, snapshotterOf(k, GC_BREF_SNAPSHOT_PREFIX), v));
    else if (inFamily(k, GC_BREF_CONTAINER_PREFIX)) out.push(containerNode(namespace, v));
    else if (inFamily(k, GC_BREF_IMAGE_PREFIX)) out.push(imageNode(namespace, v));
  }
  return out;
}

/** RFC 3339 as Go's time.Parse reads it (what containerd's expiry labels hold), in ms; undefined if it is not. */
export function parseRfc3339(v: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(v)) return undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : at;
}

/**
 * containerd's isExpiredImage: labelled `containerd.io/gc.expire` with a time before `now`. A value that
 * does not parse leaves the image unexpired (containerd logs it and keeps the image).
 */
export function isExpired(labels: Readonly<Record<string, string>>, now: number): boolean {
  const v = labels[GC_EXPIRE_LABEL];
  if (v === undefined) return false;
  const at = parseRfc3339(v);
  return at !== undefined && at < now;
}
