import type { Logger } from '@flotilla/log';
import type { ContentStore } from '@flotilla/service-content';
import type { Db } from '../metadata/db.js';
import type { GarbageCollector } from './collector.js';
import type { RwLock } from './rw-lock.js';

/** Labels garbage collection reads, as containerd names them. */
export const GC_ROOT_LABEL = 'containerd.io/gc.root';
export const GC_EXPIRE_LABEL = 'containerd.io/gc.expire';
export const GC_FLAT_LABEL = 'containerd.io/gc.flat';
export const GC_REF_CONTENT_PREFIX = 'containerd.io/gc.ref.content';

/** A blob some object outside the content tables keeps alive (an image's target, a container's...). */
export interface ContentRef {
  readonly namespace: string;
  readonly digest: string;
}

export interface CollectorOptions {
  db: Db;
  /** The content process: its blobs and ingests that no namespace holds are removed. */
  backend: ContentStore;
  lock: RwLock;
  log: Logger;
  /** Other holders of content, asked at every collection (images, containers, ...). */
  roots: readonly (() => Iterable<ContentRef>)[];
  /** Collect on this period as well as after deletions (0 = only when asked). */
  intervalMs?: number;
  /** Coalesce a burst of deletions into one collection after this long. */
  delayMs?: number;
  now?: () => number;
}

export interface CollectionStats {
  leasesExpired: number;
  contentRemoved: number;
  ingestsExpired: number;
  blobsRemoved: number;
  ingestsAborted: number;
}

export interface Collector extends GarbageCollector {
  /** Resolves with what the last collection removed; for tests and logs. */
  last(): CollectionStats | undefined;
  close(): void;
}

const key = (ns: string, d: string) => `${ns}\u0000${d}`;

/**
 * Mark and sweep, containerd's way. Roots: unexpired leases' resources, content labelled
 * `containerd.io/gc.root`, unexpired ingests (and the blob a shared ingest stands on), and whatever the
 * root providers name (images' targets...). From each marked blob, `containerd.io/gc.ref.content*` labels
 * mark more blobs in the same namespace. Unmarked content records are dropped; then every blob and ingest
 * in the content process that no namespace records anymore is removed from disk.
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
  };

  /** The metadata half: one SQLite transaction, so nothing changes between mark and sweep. */
  const sweepMetadata = db.transaction((t: number) => {
    const stats = { leasesExpired: 0, contentRemoved: 0, ingestsExpired: 0 };
    const flatLeases = new Set<string>();
    for (const l of q.leases.all() as { namespace: string; id: string; expire: string | null; flat: string | null }[]) {
      if (l.expire !== null) {
        const at = Date.parse(l.expire);
        if (!Number.isNaN(at) && at < t) {
          q.deleteLease.run(l.namespace, l.id);
          stats.leasesExpired++;
          continue;
        }
      }
      if (l.flat !== null) flatLeases.add(key(l.namespace, l.id));
    }

    const refs = new Map<string, string[]>();
    const roots: { k: string; follow: boolean }[] = [];
    for (const r of q.contentLabels.all() as { namespace: string; digest: string; key: string; value: string }[]) {
      const k = key(r.namespace, r.digest);
      if (r.key === GC_ROOT_LABEL) roots.push({ k, follow: true });
      else if (r.key.startsWith(GC_REF_CONTENT_PREFIX)) {
        let l = refs.get(k);
        if (!l) refs.set(k, (l = []));
        l.push(key(r.namespace, r.value));
      }
    }
    const liveIngests = new Set<string>();
    for (const r of q.leaseResources.all() as { namespace: string; lease: string; type: string; id: string }[]) {
      if (r.type === 'content') roots.push({ k: key(r.namespace, r.id), follow: !flatLeases.has(key(r.namespace, r.lease)) });
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
    for (const source of opts.roots) for (const r of source()) roots.push({ k: key(r.namespace, r.digest), follow: true });

    const marked = new Set<string>();
    const stack = roots;
    while (stack.length > 0) {
      const { k, follow } = stack.pop()!;
      if (marked.has(k)) continue;
      marked.add(k);
      if (follow) for (const child of refs.get(k) ?? []) if (!marked.has(child)) stack.push({ k: child, follow: true });
    }
    for (const c of q.content.all() as { namespace: string; digest: string }[]) {
      if (marked.has(key(c.namespace, c.digest))) continue;
      q.deleteContent.run(c.namespace, c.digest);
      stats.contentRemoved++;
    }
    // What the backend must keep after this: every blob some namespace still records, every blob a shared
    // ingest stands on, every ingest some namespace still has open.
    const keepBlobs = new Set(heldByIngest);
    for (const c of q.content.all() as { digest: string }[]) keepBlobs.add(c.digest);
    const keepIngests = new Set<string>();
    for (const i of q.ingests.all() as { bref: string }[]) keepIngests.add(i.bref);
    return { stats, keepBlobs, keepIngests };
  });

  const run = async (): Promise<CollectionStats> => {
    const start = performance.now();
    // The backend sweep must not race a commit: a blob committed in the backend but not yet recorded
    // in its namespace would look like garbage.
    return lock.write(async () => {
      const { stats, keepBlobs, keepIngests } = sweepMetadata(now());
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
      const all = { ...stats, blobsRemoved, ingestsAborted };
      log.info({ ...all, ms: Math.round(performance.now() - start) }, 'garbage collected');
      return all;
    });
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
  const interval = opts.intervalMs ? setInterval(() => void collect().catch((err: unknown) => log.error({ err }, 'gc failed')), opts.intervalMs) : undefined;
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
    last: () => last,
    close() {
      if (timer) clearTimeout(timer);
      if (interval) clearInterval(interval);
    },
  };
}
