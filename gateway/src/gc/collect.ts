import type { Logger } from '@flotilla/log';
import type { ContentStore } from '@flotilla/service-content';
import { SnapshotRemoveSchema } from '@flotilla/proto/containerd/events/snapshot_pb';
import { ImageDeleteSchema } from '@flotilla/proto/containerd/events/image_pb';
import type { Db } from '../metadata/db.js';
import type { Exchange } from '../events/exchange.js';
import type { GarbageCollector } from './collector.js';
import type { RwLock } from './rw-lock.js';
import {
  GC_EXPIRE_LABEL,
  GC_FLAT_LABEL,
  contentNode,
  imageNode,
  isExpired,
  isRoot,
  labelBackReferences,
  labelReferences,
  nodeId,
  parseRfc3339,
  snapshotNode,
  type GcNode,
} from './references.js';

/**
 * Something outside the content, snapshot and image tables that keeps objects alive, asked at every
 * collection: containers (roots.ts). Each node it yields is a root and is followed like any other.
 */
export type RootSource = () => Iterable<GcNode>;

/** The image records, as the collector reads and (once expired and unreferenced) deletes them. */
export interface ImageSource {
  roots(): Iterable<{ namespace: string; name: string; digest: string; labels: Readonly<Record<string, string>> }>;
  /** Called inside the collection's transaction. */
  delete(namespace: string, name: string): void;
}

/**
 * One snapshotter as garbage collection drives it (metadata/snapshots.ts). Records dropped here make it
 * dirty; `sweep` then removes, from the backend, the snapshots no record names, and has the backend
 * clean up. A snapshotter with nothing removed since its last sweep is left alone, as in containerd.
 */
export interface SnapshotterCollection {
  readonly name: string;
  markDirty(): void;
  /** Resolves with how many backend snapshots went. */
  sweep(): Promise<number>;
}

export interface CollectorOptions {
  db: Db;
  /** The content process: its blobs and ingests that no namespace holds are removed. */
  backend: ContentStore;
  lock: RwLock;
  log: Logger;
  /** Other holders, asked at every collection (containers, ...). */
  roots: readonly RootSource[];
  /**
   * Images: each holds its target and what its labels name. One that has not expired is a root; an expired
   * one that nothing names is deleted (`/images/delete` is published), as containerd 2.0 collects them.
   */
  images?: ImageSource;
  /** The snapshotters in front of which the gateway keeps snapshot records; read at every collection. */
  snapshotters?: () => Iterable<SnapshotterCollection>;
  /** Where `/snapshot/remove` goes for each record collection drops, as containerd publishes it. */
  events?: Exchange;
  /** Collect on this period as well as after deletions (0 = only when asked). */
  intervalMs?: number;
  /** Coalesce a burst of deletions into one collection after this long. */
  delayMs?: number;
  now?: () => number;
}

export interface CollectionStats {
  leasesExpired: number;
  /** Expired images nothing named, deleted. */
  imagesRemoved: number;
  contentRemoved: number;
  ingestsExpired: number;
  blobsRemoved: number;
  ingestsAborted: number;
  /** Snapshot records dropped from namespaces. */
  snapshotsRemoved: number;
  /** Snapshots removed from backend snapshotters (each sweep's own, records or not). */
  backendSnapshotsRemoved: number;
}

export interface Collector extends GarbageCollector {
  /**
   * A content record went outside a collection (a namespace deleted its blob): the next collection must
   * sweep the content process, as containerd's `dirtyCS` asks.
   */
  markContentDirty(): void;
  /** Resolves with what the last collection removed; for tests and logs. */
  last(): CollectionStats | undefined;
  close(): void;
}

const key = (ns: string, d: string) => `${ns}\u0000${d}`;

interface LabelRow {
  namespace: string;
  key: string;
  value: string;
}

/** Rows of `(object, key, value)` gathered into each object's labels. */
function groupLabels<R extends LabelRow>(rows: readonly R[], idOf: (r: R) => string): Map<string, { row: R; labels: Record<string, string> }> {
  const out = new Map<string, { row: R; labels: Record<string, string> }>();
  for (const r of rows) {
    const id = idOf(r);
    let o = out.get(id);
    if (!o) out.set(id, (o = { row: r, labels: {} }));
    o.labels[r.key] = r.value;
  }
  return out;
}

/**
 * Mark and sweep, containerd's way, over images, content and snapshots. Roots: images that have not
 * expired, unexpired leases' resources (a flat lease holds only what it names, and a snapshot's parents),
 * content and snapshots labelled `containerd.io/gc.root`, unexpired ingests (and the blob a shared ingest
 * stands on), and whatever the root sources name (containers). An image marks its target; from each marked
 * object, `containerd.io/gc.ref.content*`, `containerd.io/gc.ref.image*` and
 * `containerd.io/gc.ref.snapshot.<snapshotter>*` labels mark more in the same namespace, a snapshot marks
 * its parent, and an object that names a marked one in a `containerd.io/gc.bref.*` label is marked with
 * it. Unmarked expired images and unmarked content and snapshot records are dropped; then every blob and
 * ingest in the content process that no namespace records is removed from disk, and every dirty
 * snapshotter is swept.
 */
export function createCollector(opts: CollectorOptions): Collector {
  const { db, backend, lock, log } = opts;
  const now = opts.now ?? Date.now;
  const q = {
    leases: db.prepare(`SELECT l.namespace, l.id, e.value AS expire, f.value AS flat FROM leases l
                        LEFT JOIN lease_labels e ON e.namespace = l.namespace AND e.lease = l.id AND e.key = '${GC_EXPIRE_LABEL}'
                        LEFT JOIN lease_labels f ON f.namespace = l.namespace AND f.lease = l.id AND f.key = '${GC_FLAT_LABEL}'`),
    deleteLease: db.prepare('DELETE FROM leases WHERE namespace = ? AND id = ?'),
    leaseResources: db.prepare('SELECT namespace, lease, type, id FROM lease_resources'),
    content: db.prepare('SELECT namespace, digest FROM content'),
    contentLabels: db.prepare('SELECT namespace, digest, key, value FROM content_labels'),
    deleteContent: db.prepare('DELETE FROM content WHERE namespace = ? AND digest = ?'),
    ingests: db.prepare('SELECT namespace, ref, bref, expected, expires_at FROM ingests'),
    deleteIngest: db.prepare('DELETE FROM ingests WHERE namespace = ? AND ref = ?'),
    snapshots: db.prepare('SELECT namespace, snapshotter, key, parent FROM snapshots'),
    snapshotLabels: db.prepare('SELECT namespace, snapshotter, snapshot, key, value FROM snapshot_labels'),
    deleteSnapshot: db.prepare('DELETE FROM snapshots WHERE namespace = ? AND snapshotter = ? AND key = ?'),
  };

  /** The metadata half: one SQLite transaction, so nothing changes between mark and sweep. */
  const sweepMetadata = db.transaction((t: number) => {
    const stats = { leasesExpired: 0, imagesRemoved: 0, contentRemoved: 0, ingestsExpired: 0, snapshotsRemoved: 0 };
    const flatLeases = new Set<string>();
    for (const l of q.leases.all() as { namespace: string; id: string; expire: string | null; flat: string | null }[]) {
      if (l.expire !== null) {
        const at = parseRfc3339(l.expire);
        if (at !== undefined && at < t) {
          q.deleteLease.run(l.namespace, l.id);
          stats.leasesExpired++;
          continue;
        }
      }
      if (l.flat !== null) flatLeases.add(key(l.namespace, l.id));
    }

    // The graph: what each object names (labels, a snapshot's parent), and who names each object back.
    const refs = new Map<string, GcNode[]>();
    const backRefs = new Map<string, GcNode[]>();
    const parents = new Map<string, GcNode>();
    const roots: { node: GcNode; flat: boolean }[] = [];
    const addBackReferences = (node: GcNode, labels: Readonly<Record<string, string>>) => {
      for (const owner of labelBackReferences(node.namespace, labels)) {
        const oid = nodeId(owner);
        let l = backRefs.get(oid);
        if (!l) backRefs.set(oid, (l = []));
        l.push(node);
      }
    };
    const addLabels = (node: GcNode, labels: Record<string, string>) => {
      if (isRoot(labels)) roots.push({ node, flat: false });
      const forward = labelReferences(node.namespace, labels);
      if (forward.length > 0) refs.set(nodeId(node), forward);
      addBackReferences(node, labels);
    };
    type ContentLabel = LabelRow & { digest: string };
    for (const { row, labels } of groupLabels(q.contentLabels.all() as ContentLabel[], (r) => key(r.namespace, r.digest)).values()) {
      addLabels(contentNode(row.namespace, row.digest), labels);
    }
    type SnapshotLabel = LabelRow & { snapshotter: string; snapshot: string };
    for (const { row, labels } of groupLabels(q.snapshotLabels.all() as SnapshotLabel[], (r) => nodeId(snapshotNode(r.namespace, r.snapshotter, r.snapshot))).values()) {
      addLabels(snapshotNode(row.namespace, row.snapshotter, row.snapshot), labels);
    }
    const snapshots = q.snapshots.all() as { namespace: string; snapshotter: string; key: string; parent: string }[];
    for (const sn of snapshots) {
      if (sn.parent !== '') parents.set(nodeId(snapshotNode(sn.namespace, sn.snapshotter, sn.key)), snapshotNode(sn.namespace, sn.snapshotter, sn.parent));
    }

    const liveIngests = new Set<string>();
    const SNAPSHOTS = 'snapshots/';
    for (const r of q.leaseResources.all() as { namespace: string; lease: string; type: string; id: string }[]) {
      const flat = flatLeases.has(key(r.namespace, r.lease));
      if (r.type === 'content') roots.push({ node: contentNode(r.namespace, r.id), flat });
      else if (r.type.startsWith(SNAPSHOTS)) roots.push({ node: snapshotNode(r.namespace, r.type.slice(SNAPSHOTS.length), r.id), flat });
      else if (r.type === 'ingests') liveIngests.add(key(r.namespace, r.id));
    }
    const heldByIngest = new Set<string>();
    for (const i of q.ingests.all() as { namespace: string; ref: string; bref: string; expected: string; expires_at: number | null }[]) {
      if (!liveIngests.has(key(i.namespace, i.ref)) && i.expires_at !== null && i.expires_at < t) {
        q.deleteIngest.run(i.namespace, i.ref);
        stats.ingestsExpired++;
        continue;
      }
      if (i.expected) heldByIngest.add(i.expected);
    }
    for (const source of opts.roots) for (const node of source()) roots.push({ node, flat: false });
    // An image names its target and what its labels name; only an unexpired one is a root.
    const expiredImages: { namespace: string; name: string }[] = [];
    for (const img of opts.images?.roots() ?? []) {
      const node = imageNode(img.namespace, img.name);
      refs.set(nodeId(node), [contentNode(img.namespace, img.digest), ...labelReferences(img.namespace, img.labels)]);
      addBackReferences(node, img.labels);
      if (isExpired(img.labels, t)) expiredImages.push(img);
      else roots.push({ node, flat: false });
    }

    // Reached fully, an object follows everything it names; reached only through a flat lease, a snapshot
    // still keeps its parents (its tree is made of them) but nothing its labels name.
    const full = new Set<string>();
    const flat = new Set<string>();
    const stack = roots;
    while (stack.length > 0) {
      const { node, flat: isFlat } = stack.pop()!;
      const id = nodeId(node);
      if (full.has(id) || (isFlat && flat.has(id))) continue;
      (isFlat ? flat : full).add(id);
      const parent = parents.get(id);
      if (parent) stack.push({ node: parent, flat: isFlat });
      if (isFlat) continue;
      for (const n of refs.get(id) ?? []) stack.push({ node: n, flat: false });
      for (const n of backRefs.get(id) ?? []) stack.push({ node: n, flat: false });
    }
    const live = (n: GcNode) => {
      const id = nodeId(n);
      return full.has(id) || flat.has(id);
    };

    const removedImages: { namespace: string; name: string }[] = [];
    for (const img of expiredImages) {
      if (live(imageNode(img.namespace, img.name))) continue;
      opts.images!.delete(img.namespace, img.name);
      removedImages.push(img);
      stats.imagesRemoved++;
    }
    for (const c of q.content.all() as { namespace: string; digest: string }[]) {
      if (live(contentNode(c.namespace, c.digest))) continue;
      q.deleteContent.run(c.namespace, c.digest);
      stats.contentRemoved++;
    }
    const removedSnapshots: { namespace: string; snapshotter: string; key: string }[] = [];
    for (const sn of snapshots) {
      if (live(snapshotNode(sn.namespace, sn.snapshotter, sn.key))) continue;
      q.deleteSnapshot.run(sn.namespace, sn.snapshotter, sn.key);
      removedSnapshots.push(sn);
      stats.snapshotsRemoved++;
    }
    // What the backend must keep after this: every blob some namespace still records, every blob a shared
    // ingest stands on, every ingest some namespace still has open.
    const keepBlobs = new Set(heldByIngest);
    for (const c of q.content.all() as { digest: string }[]) keepBlobs.add(c.digest);
    const keepIngests = new Set<string>();
    for (const i of q.ingests.all() as { bref: string }[]) keepIngests.add(i.bref);
    return { stats, keepBlobs, keepIngests, removedSnapshots, removedImages };
  });

  /** Each dirty snapshotter's backend, side by side; one that fails is logged and tried next time. */
  const sweepSnapshotters = async (snapshotters: readonly SnapshotterCollection[]): Promise<number> => {
    const counts = await Promise.all(snapshotters.map((sn) => sn.sweep().catch((err: unknown) => {
      log.warn({ err, snapshotter: sn.name }, 'gc: snapshot garbage collection failed');
      return 0;
    })));
    return counts.reduce((a, b) => a + b, 0);
  };

  /** Remove from the content process every blob and ingest outside what the metadata keeps. */
  const sweepContent = async (keepBlobs: ReadonlySet<string>, keepIngests: ReadonlySet<string>) => {
    let blobsRemoved = 0;
    let ingestsAborted = 0;
    const doomed: string[] = [];
    for await (const info of backend.list()) if (!keepBlobs.has(info.digest)) doomed.push(info.digest);
    for (const d of doomed) {
      await backend.delete(d).catch((err: unknown) => log.warn({ err, digest: d }, 'gc: could not remove blob'));
      blobsRemoved++;
    }
    for (const st of await backend.listStatuses()) {
      if (keepIngests.has(st.ref)) continue;
      await backend.abort(st.ref).catch((err: unknown) => log.warn({ err, ref: st.ref }, 'gc: could not abort ingest'));
      ingestsAborted++;
    }
    return { blobsRemoved, ingestsAborted };
  };

  // Listing every blob and ingest of the content process costs far more than the metadata pass, so the
  // content sweep runs only when a record went since the last one, as in containerd. It starts dirty, so
  // the first collection after a start removes what a crash left behind, and a periodic collection
  // always sweeps, for anything the content process holds that no record ever named.
  let contentDirty = true;

  const run = async (): Promise<CollectionStats> => {
    const start = performance.now();
    const sweeping: Promise<number>[] = [];
    try {
      // The content sweep must not race a commit: a blob committed in the backend but not yet recorded in
      // its namespace would look like garbage. Snapshotters guard the same window with locks of their own,
      // so their sweeps start as soon as the records are settled and run beside the content sweep.
      const partial = await lock.write(async () => {
        const { stats, keepBlobs, keepIngests, removedSnapshots, removedImages } = sweepMetadata(now());
        for (const r of removedImages) opts.events?.publish(r.namespace, '/images/delete', ImageDeleteSchema, { name: r.name });
        for (const r of removedSnapshots) {
          opts.events?.publish(r.namespace, '/snapshot/remove', SnapshotRemoveSchema, { key: r.key, snapshotter: r.snapshotter });
        }
        const touched = new Set(removedSnapshots.map((r) => r.snapshotter));
        const snapshotters = [...(opts.snapshotters?.() ?? [])];
        for (const sn of snapshotters) if (touched.has(sn.name)) sn.markDirty();
        sweeping.push(sweepSnapshotters(snapshotters));

        let blobsRemoved = 0;
        let ingestsAborted = 0;
        if (stats.contentRemoved > 0 || stats.ingestsExpired > 0) contentDirty = true;
        if (!contentDirty) return { ...stats, blobsRemoved, ingestsAborted };
        // Cleared before the sweep: a deletion while it runs marks the next one dirty again. A sweep that
        // fails part-way leaves it dirty.
        contentDirty = false;
        try {
          ({ blobsRemoved, ingestsAborted } = await sweepContent(keepBlobs, keepIngests));
        } catch (err) {
          contentDirty = true;
          throw err;
        }
        return { ...stats, blobsRemoved, ingestsAborted };
      });
      const backendSnapshotsRemoved = (await Promise.all(sweeping)).reduce((a, b) => a + b, 0);
      const all = { ...partial, backendSnapshotsRemoved };
      log.info({ ...all, ms: Math.round(performance.now() - start) }, 'garbage collected');
      return all;
    } finally {
      // A collection is over only once its snapshotters are swept, whatever became of the content.
      await Promise.all(sweeping);
    }
  };

  let running: Promise<CollectionStats> | undefined;
  let queued: Promise<CollectionStats> | undefined;
  let last: CollectionStats | undefined;
  let timer: NodeJS.Timeout | undefined;
  const collect = (): Promise<CollectionStats> => {
    if (!running) {
      running = run()
        .then((s) => { last = s; return s; })
        .finally(() => { running = undefined; });
      return running;
    }
    // A collection is under way: one more afterwards sees what changed meanwhile; callers share it.
    queued ??= running.catch(() => undefined).then(() => { queued = undefined; return collect(); });
    return queued;
  };
  const interval = opts.intervalMs ? setInterval(() => {
    contentDirty = true;
    void collect().catch((err: unknown) => log.error({ err }, 'gc failed'));
  }, opts.intervalMs) : undefined;
  interval?.unref();

  return {
    schedule() {
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        collect().catch((err: unknown) => log.error({ err }, 'gc failed'));
      }, opts.delayMs ?? 100);
      timer.unref();
    },
    async collect() {
      await collect();
    },
    markContentDirty() {
      contentDirty = true;
    },
    last: () => last,
    close() {
      if (timer) clearTimeout(timer);
      if (interval) clearInterval(interval);
    },
  };
}
