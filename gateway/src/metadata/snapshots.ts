import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  UnknownError,
  isAlreadyExists,
  isNotFound,
} from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';
import { snapshotFilter, type Info, type InfoUpdate, type Mount, type SnapshotOptions, type Snapshotter } from '@flotilla/snapshots';
import { SnapshotCommitSchema, SnapshotPrepareSchema, SnapshotRemoveSchema } from '@flotilla/proto/containerd/events/snapshot_pb';
import type { Db } from './db.js';
import { createKeyLock } from './key-lock.js';
import { validateLabels } from './labels.js';
import type { LeaseStore } from './leases.js';
import type { NamespaceHolder } from './namespaces.js';
import type { Exchange } from '../events/exchange.js';
import type { SnapshotterCollection } from '../gc/collect.js';
import { createRwLock } from '../gc/rw-lock.js';

/**
 * The label an unpacker puts on a layer's snapshot, naming the committed snapshot (the chain ID) it is
 * about to make. A namespace that already has that name answers AlreadyExists at once; a backend that
 * already has it (a remote snapshotter that shares layers) answers AlreadyExists from Prepare, and the
 * namespace then takes the backend's snapshot as its own instead of unpacking the layer again.
 */
export const SNAPSHOT_REF_LABEL = 'containerd.io/snapshot.ref';

/** Labels under this prefix, and the ref label, are the only ones a backend snapshotter is told. */
const INHERITED_PREFIX = 'containerd.io/snapshot/';

/** Walks ask the backend for this many snapshots' kinds at a time (containerd's batch). */
const WALK_BATCH = 100;
/** Mounts kept for Mounts calls (stableMounts): a few thousand active snapshots' worth. */
const MOUNTS_KEPT = 4096;

/**
 * containerd's FilterInheritedLabels: a backend needs only the labels meant for snapshotters (a remote
 * snapshotter's hints, the ref label); GC and client labels stay in the metadata, where they are read.
 */
export function inheritedLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (k === SNAPSHOT_REF_LABEL || k.startsWith(INHERITED_PREFIX)) out[k] = v;
  return out;
}

/**
 * The snapshotter behind a name: the process or proxy plugin the metadata sits in front of. `namespace` is
 * the caller's, which a backend call carries as containerd forwards it to a proxy snapshotter; garbage
 * collection calls with none.
 */
export type SnapshotBackend = (namespace?: string) => Snapshotter;

export interface NamespacedSnapshotsOptions {
  db: Db;
  /** The snapshotter's name as clients ask for it (`overlayfs`, a proxy plugin's name). */
  name: string;
  backend: SnapshotBackend;
  leases: LeaseStore;
  events: Exchange;
  log: Logger;
  /** Ask for a collection: a removed snapshot's backend copy goes only when garbage collection sweeps. */
  onRemove(): void;
  /**
   * The backend's mounts for a snapshot never change while it exists, as for the built-in snapshotters
   * (they follow from the snapshot's own directories and its parents', which outlive it). The mounts that
   * Prepare and View returned then answer Mounts without asking the backend again: `ctr run` asks twice.
   * Left unset for proxy plugins, whose mounts are theirs to change.
   */
  stableMounts?: boolean;
  /** Clock, for tests. */
  now?: () => Date;
}

/** One snapshotter's namespaced metadata: the views clients get, the namespace check, and GC's sweep. */
export interface NamespacedSnapshots extends NamespaceHolder, SnapshotterCollection {
  /**
   * The snapshotter as `namespace` sees it; what it creates under `lease` is added to that lease. It has
   * no `cleanup`, as containerd's metadata snapshotter has none: reclaiming disk is garbage collection's.
   */
  snapshotter(namespace: string, lease?: string): Snapshotter;
}

interface Row {
  key: string;
  bkey: string;
  parent: string;
  created_at: number;
  updated_at: number;
}

/** Go's %q for the names in messages; JSON's escaping agrees for printable text. */
const q = (s: string) => JSON.stringify(s);

/** Snapshotter names that have records, whether or not they are configured now. */
export function recordedSnapshotters(db: Db): string[] {
  return db.prepare('SELECT DISTINCT snapshotter FROM snapshots ORDER BY snapshotter').pluck().all() as string[];
}

/**
 * What deleting a namespace checks for one snapshotter. containerd names each snapshotter that still has
 * snapshots in the namespace on its own.
 */
export function snapshotsHolder(db: Db, snapshotter: string): NamespaceHolder {
  const any = db.prepare('SELECT 1 FROM snapshots WHERE namespace = ? AND snapshotter = ? LIMIT 1').pluck();
  return { kind: `snapshots on ${q(snapshotter)} snapshotter`, holds: (ns) => any.get(ns, snapshotter) !== undefined };
}

/** Labels as stored: a label set to '' is a removal and never written, as containerd's writeMap has it. */
const stored = (labels: Readonly<Record<string, string>>): Record<string, string> =>
  Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ''));

function validateSnapshotLabels(labels: Readonly<Record<string, string>>): void {
  try {
    validateLabels(stored(labels));
  } catch (err) {
    throw new InvalidArgumentError(`info.Labels: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The namespace's record laid over what the backend reports (containerd's overlayInfo): the kind, and any
 * labels the backend adds of its own, come from the backend; name, parent, times and the labels clients
 * set are the namespace's.
 */
function overlayInfo(backend: Info, local: Omit<Info, 'kind'>): Info {
  return { ...local, kind: backend.kind, labels: { ...backend.labels, ...local.labels } };
}

/**
 * containerd's metadata snapshotter (core/metadata/snapshot.go) over SQLite, in front of one backend
 * snapshotter shared by every namespace. Each namespace has its own keys; the backend sees
 * `<namespace>/<sequence>/<key>`, so two namespaces never collide and a removed key can be reused at once
 * while its old backend snapshot waits for collection. Parent links, times and labels live here; the
 * backend keeps trees and kinds.
 *
 * Remove only drops the record: the backend snapshot goes when garbage collection next sweeps this
 * snapshotter (`sweep`), children before parents, followed by the backend's Cleanup.
 *
 * Consistency without holding a transaction across a backend call: operations take the keys they create,
 * consume or rely on (key-lock.ts), check in one transaction, call the backend, and record in a second;
 * creations hold `gcLock` shared from the backend call to the record, and the sweep holds it exclusively,
 * so a backend snapshot about to be recorded is never taken for garbage.
 */
export function createNamespacedSnapshots(opts: NamespacedSnapshotsOptions): NamespacedSnapshots {
  const { db, name, leases, events, log } = opts;
  const now = opts.now ?? (() => new Date());
  const keys = createKeyLock();
  const gcLock = createRwLock();
  const holder = snapshotsHolder(db, name);
  let dirty = false;
  const s = {
    ensureNs: db.prepare('INSERT OR IGNORE INTO namespaces (name, created_at, updated_at) VALUES (?, ?, ?)'),
    get: db.prepare('SELECT key, bkey, parent, created_at, updated_at FROM snapshots WHERE namespace = ? AND snapshotter = ? AND key = ?'),
    list: db.prepare('SELECT key, bkey, parent, created_at, updated_at FROM snapshots WHERE namespace = ? AND snapshotter = ? ORDER BY key'),
    labels: db.prepare('SELECT key, value FROM snapshot_labels WHERE namespace = ? AND snapshotter = ? AND snapshot = ?'),
    allLabels: db.prepare('SELECT snapshot, key, value FROM snapshot_labels WHERE namespace = ? AND snapshotter = ?'),
    child: db.prepare('SELECT 1 FROM snapshots WHERE namespace = ? AND snapshotter = ? AND parent = ? LIMIT 1').pluck(),
    insert: db.prepare('INSERT INTO snapshots (namespace, snapshotter, key, bkey, parent, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    touch: db.prepare('UPDATE snapshots SET updated_at = ? WHERE namespace = ? AND snapshotter = ? AND key = ?'),
    delete: db.prepare('DELETE FROM snapshots WHERE namespace = ? AND snapshotter = ? AND key = ?'),
    clearLabels: db.prepare('DELETE FROM snapshot_labels WHERE namespace = ? AND snapshotter = ? AND snapshot = ?'),
    label: db.prepare('INSERT INTO snapshot_labels (namespace, snapshotter, snapshot, key, value) VALUES (?, ?, ?, ?, ?)'),
    lastSeq: db.prepare('SELECT last FROM snapshot_sequences WHERE namespace = ? AND snapshotter = ?').pluck(),
    recordSeq: db.prepare(`INSERT INTO snapshot_sequences (namespace, snapshotter, last) VALUES (?, ?, ?)
                           ON CONFLICT (namespace, snapshotter) DO UPDATE SET last = max(last, excluded.last)`),
    bkeys: db.prepare('SELECT bkey FROM snapshots WHERE snapshotter = ?').pluck(),
  };

  const row = (ns: string, key: string) => s.get.get(ns, name, key) as Row | undefined;
  const mustRow = (ns: string, key: string): Row => {
    const r = row(ns, key);
    if (!r) throw new NotFoundError(`snapshot ${key} does not exist`);
    return r;
  };
  const labelsOf = (ns: string, key: string): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const r of s.labels.all(ns, name, key) as { key: string; value: string }[]) out[r.key] = r.value;
    return out;
  };
  const writeLabels = (ns: string, key: string, labels: Readonly<Record<string, string>>) => {
    s.clearLabels.run(ns, name, key);
    for (const [k, v] of Object.entries(labels)) s.label.run(ns, name, key, k, v);
  };
  /**
   * Sequence numbers handed out per namespace, ahead of the table: a number is taken while an operation
   * checks (a read-only transaction) and written with the snapshot it names, in the transaction that
   * records it. Taking it with a write of its own cost every Prepare and Commit a second transaction, and
   * so a second fsync. As in containerd, whose createKey takes it inside the transaction that records the
   * snapshot: a crash between the backend call and the record can hand the number out again, which only
   * matters for the same key in the same namespace, and the collector sweeps the unrecorded backend
   * snapshot meanwhile.
   */
  const issued = new Map<string, number>();
  /** Mounts of active snapshots and views, by backend key (never reused), when they are stable. */
  const knownMounts = new Map<string, readonly Mount[]>();
  const rememberMounts = (bkey: string, mounts: readonly Mount[]) => {
    if (!opts.stableMounts) return;
    // Records dropped by garbage collection leave their entries behind: keep the newest few thousand.
    if (knownMounts.size >= MOUNTS_KEPT) knownMounts.delete(knownMounts.keys().next().value!);
    knownMounts.set(bkey, mounts);
  };
  /** A backend key no other recorded snapshot of this namespace has had or will have (containerd's createKey). */
  const backendKey = (ns: string, key: string): { bkey: string; seq: number } => {
    const seq = Math.max(issued.get(ns) ?? 0, (s.lastSeq.get(ns, name) as number | undefined) ?? 0) + 1;
    issued.set(ns, seq);
    return { bkey: `${ns}/${seq}/${key}`, seq };
  };
  const recordSeq = (ns: string, seq: number) => s.recordSeq.run(ns, name, seq);
  const ensureNs = (ns: string) => {
    const t = Date.now();
    s.ensureNs.run(ns, t, t);
  };
  const resourceType = `snapshots/${name}`;

  function snapshotter(ns: string, lease?: string): Snapshotter {
    const backend = opts.backend(ns);
    // Held per namespace: the same key in two namespaces is two snapshots.
    const lk = (key: string) => `${ns}\0${key}`;
    // containerd adds whatever a leased client creates, or finds already there, to its lease.
    const leaseAdd = (key: string) => { if (lease) leases.addResource(ns, lease, { type: resourceType, id: key }); };
    const leaseRemove = (key: string) => {
      if (!lease) return;
      try {
        leases.deleteResource(ns, lease, { type: resourceType, id: key });
      } catch (err) {
        // A lease that is gone holds nothing to let go of.
        if (!isNotFound(err)) throw err;
      }
    };

    async function createSnapshot(kind: 'active' | 'view', key: string, parent: string, sopts: SnapshotOptions | undefined): Promise<Mount[]> {
      const base = { ...sopts?.labels };
      validateSnapshotLabels(base);
      const target = base[SNAPSHOT_REF_LABEL] ?? '';
      return keys.with([lk(key), ...(parent !== '' ? [lk(parent)] : []), ...(target !== '' ? [lk(target)] : [])], async () => {
        // First pass: what is already here answers at once, and still joins the caller's lease, so an
        // unpacker that finds its layer keeps it for as long as it works.
        const planned = db.transaction((): { exists: string } | { bkey: string; seq: number; bparent: string } => {
          if (target !== '' && row(ns, target)) {
            leaseAdd(target);
            return { exists: `target snapshot ${q(target)}` };
          }
          if (row(ns, key)) {
            leaseAdd(key);
            return { exists: `snapshot ${q(key)}` };
          }
          let bparent = '';
          if (parent !== '') {
            const p = row(ns, parent);
            if (!p) throw new NotFoundError(`parent snapshot ${parent} does not exist`);
            bparent = p.bkey;
          }
          return { ...backendKey(ns, key), bparent };
        })();
        if ('exists' in planned) throw new AlreadyExistsError(planned.exists);

        return gcLock.read(async () => {
          let { bkey, bparent } = planned;
          let recordKey = key;
          let labels = base;
          let mounts: Mount[] = [];
          let created: string | undefined;
          let answer: Error | undefined;
          let at: { created: Date; updated: Date };
          try {
            const bopts = { labels: inheritedLabels(base) };
            mounts = kind === 'active' ? await backend.prepare(bkey, bparent, bopts) : await backend.view(bkey, bparent, bopts);
            created = bkey;
            const t = now();
            at = { created: t, updated: t };
          } catch (err) {
            if (!isAlreadyExists(err)) throw err;
            // The key is new to the backend, so AlreadyExists can only mean it found the target: a
            // snapshotter that shares layers (across namespaces, or with a remote store) has it committed.
            if (target === '') throw new UnknownError(`unexpected error from snapshotter: ${(err as Error).message}`, { cause: err });
            const found = await findTarget(target, bparent);
            if (!found) throw new NotFoundError(`target snapshot ${q(target)} in backend`);
            recordKey = target;
            bkey = found.name;
            bparent = found.parent;
            at = { created: found.created, updated: found.updated };
            labels = { ...found.labels, ...base };
            answer = new AlreadyExistsError(`target snapshot ${q(target)} from snapshotter`);
          }
          try {
            db.transaction(() => {
              ensureNs(ns);
              recordSeq(ns, planned.seq);
              leaseAdd(recordKey);
              if (row(ns, recordKey)) {
                answer ??= new AlreadyExistsError(`snapshot ${q(recordKey)}`);
                return;
              }
              if (parent !== '') {
                const p = row(ns, parent);
                if (!p) throw new NotFoundError(`parent snapshot ${parent} does not exist`);
                // A target found with another parent than the caller's would make the chain lie.
                if (p.bkey !== bparent) throw new InvalidArgumentError(`mismatched parent ${parent} from target ${target}`);
              }
              s.insert.run(ns, name, recordKey, bkey, parent, at.created.getTime(), at.updated.getTime());
              writeLabels(ns, recordKey, stored(labels));
            })();
          } catch (err) {
            answer = err as Error;
          }
          if (answer) {
            // A backend snapshot this call made and could not record is nobody's: drop it now.
            if (created !== undefined) {
              await backend.remove(created).catch((err: unknown) => log.error({ snapshotter: name, key: created, err }, 'failed to clean up unrecorded snapshot'));
            }
            throw answer;
          }
          rememberMounts(bkey, mounts);
          if (kind === 'active') events.publish(ns, '/snapshot/prepare', SnapshotPrepareSchema, { key, parent, snapshotter: name });
          return mounts;
        });
      });
    }

    /** The backend's committed snapshot carrying `target` on `bparent`, checked again here in case the backend ignores filters. */
    async function findTarget(target: string, bparent: string): Promise<Info | undefined> {
      let found: Info | undefined;
      await backend.walk((i) => {
        if (found === undefined && i.kind === 'committed' && i.labels[SNAPSHOT_REF_LABEL] === target && i.parent === bparent) found = i;
      }, `labels.${q(SNAPSHOT_REF_LABEL)}==${q(target)},parent==${q(bparent)}`);
      return found;
    }

    return {
      async stat(key) {
        const r = mustRow(ns, key);
        const labels = labelsOf(ns, key);
        const info = await backend.stat(r.bkey);
        return overlayInfo(info, { name: key, parent: r.parent, labels, created: new Date(r.created_at), updated: new Date(r.updated_at) });
      },

      async update(info: InfoUpdate, fieldpaths = []) {
        if (info.name === '') throw new InvalidArgumentError('snapshot name must be given');
        return keys.with([lk(info.name)], async () => {
          const r = mustRow(ns, info.name);
          let labels = labelsOf(ns, info.name);
          const given = info.labels ?? {};
          if (fieldpaths.length === 0) {
            labels = { ...given };
          } else {
            for (const path of fieldpaths) {
              if (path.startsWith('labels.')) {
                const k = path.slice('labels.'.length);
                labels[k] = given[k] ?? '';
              } else if (path === 'labels') {
                labels = { ...given };
              } else {
                // Name, parent, kind and times are not the caller's to change.
                throw new InvalidArgumentError(`cannot update ${q(path)} field on snapshot ${q(info.name)}`);
              }
            }
          }
          validateSnapshotLabels(labels);
          labels = stored(labels);
          const updated = now();
          // The backend is told first, with the same paths, and only about labels meant for it: a backend
          // that refuses leaves the record as it was.
          const binfo = await backend.update({ name: r.bkey, labels: inheritedLabels(labels) }, fieldpaths);
          db.transaction(() => {
            mustRow(ns, info.name);
            writeLabels(ns, info.name, labels);
            s.touch.run(updated.getTime(), ns, name, info.name);
          })();
          return overlayInfo(binfo, { name: info.name, parent: r.parent, labels, created: new Date(r.created_at), updated });
        });
      },

      async usage(key) {
        return backend.usage(mustRow(ns, key).bkey);
      },

      async mounts(key) {
        const { bkey } = mustRow(ns, key);
        const known = knownMounts.get(bkey);
        return known !== undefined ? known.map((m) => ({ ...m, options: [...m.options] })) : backend.mounts(bkey);
      },

      prepare: (key, parent, sopts) => createSnapshot('active', key, parent, sopts),

      view: (key, parent, sopts) => createSnapshot('view', key, parent, sopts),

      async commit(commitName, key, copts) {
        const base = { ...copts?.labels };
        validateSnapshotLabels(base);
        const rebaseOnto = copts?.parent ?? '';
        await keys.with([lk(commitName), lk(key), ...(rebaseOnto !== '' ? [lk(rebaseOnto)] : [])], async () => {
          const planned = db.transaction((): { exists: true } | { bkey: string; nameKey: string; seq: number; parent: string; bparent: string; rebase: boolean } => {
            if (row(ns, commitName)) {
              leaseAdd(commitName);
              return { exists: true };
            }
            const k = mustRow(ns, key);
            // The lease is needed once the backend has committed; a missing one must stop us before that.
            if (lease) leases.get(ns, lease);
            let parent = k.parent;
            // Only a snapshot prepared without a parent can be given one at commit (containerd's rebase);
            // otherwise the requested parent is not this layer's business and is ignored.
            const rebase = parent === '' && rebaseOnto !== '';
            if (rebase) parent = rebaseOnto;
            let bparent = '';
            if (parent !== '') {
              const p = row(ns, parent);
              if (!p) throw new NotFoundError(`parent snapshot ${parent} does not exist`);
              bparent = p.bkey;
            }
            const { bkey: nameKey, seq } = backendKey(ns, commitName);
            return { bkey: k.bkey, nameKey, seq, parent, bparent, rebase };
          })();
          if ('exists' in planned) throw new AlreadyExistsError(`snapshot ${q(commitName)}`);

          await gcLock.read(async () => {
            const { bkey, nameKey, seq, parent, bparent, rebase } = planned;
            try {
              await backend.commit(nameKey, bkey, { labels: inheritedLabels(base), ...(rebase ? { parent: bparent } : {}) });
            } catch (err) {
              if (isNotFound(err)) log.error({ snapshotter: name, key, err }, 'uncommittable snapshot: missing in backend, snapshot should be removed');
              throw err;
            }
            try {
              db.transaction(() => {
                // Garbage collection may have dropped an unprotected active snapshot meanwhile.
                mustRow(ns, key);
                ensureNs(ns);
                recordSeq(ns, seq);
                leaseAdd(commitName);
                const t = now().getTime();
                s.insert.run(ns, name, commitName, nameKey, parent, t, t);
                writeLabels(ns, commitName, stored(base));
                s.delete.run(ns, name, key);
                leaseRemove(key);
              })();
              knownMounts.delete(bkey);
            } catch (err) {
              // The backend committed what nothing records: the next sweep takes it.
              dirty = true;
              log.error({ snapshotter: name, key, bname: nameKey, err }, 'uncommittable snapshot: transaction failed after commit, snapshot should be removed');
              throw err;
            }
          });
        });
        events.publish(ns, '/snapshot/commit', SnapshotCommitSchema, { key, name: commitName, snapshotter: name });
      },

      async remove(key) {
        await keys.with([lk(key)], async () => {
          const { bkey } = db.transaction(() => {
            const r = mustRow(ns, key);
            if (s.child.get(ns, name, key) !== undefined) throw new FailedPreconditionError('cannot remove snapshot with child');
            s.delete.run(ns, name, key);
            leaseRemove(key);
            return r;
          })();
          knownMounts.delete(bkey);
        });
        dirty = true;
        events.publish(ns, '/snapshot/remove', SnapshotRemoveSchema, { key, snapshotter: name });
        opts.onRemove();
      },

      async walk(fn, ...filters) {
        const filter = snapshotFilter(filters);
        const rows = s.list.all(ns, name) as Row[];
        const labels = new Map<string, Record<string, string>>();
        for (const r of s.allLabels.all(ns, name) as { snapshot: string; key: string; value: string }[]) {
          let l = labels.get(r.snapshot);
          if (!l) labels.set(r.snapshot, (l = {}));
          l[r.key] = r.value;
        }
        for (let i = 0; i < rows.length; i += WALK_BATCH) {
          const batch = rows.slice(i, i + WALK_BATCH);
          // Asked together, answered in key order. A snapshot the backend no longer has is skipped: its
          // record is on its way out.
          const infos = await Promise.all(batch.map((r) => backend.stat(r.bkey).catch((err: unknown) => {
            if (isNotFound(err)) return undefined;
            throw err;
          })));
          for (const [j, r] of batch.entries()) {
            const binfo = infos[j];
            if (binfo === undefined) continue;
            const info = overlayInfo(binfo, {
              name: r.key,
              parent: r.parent,
              labels: labels.get(r.key) ?? {},
              created: new Date(r.created_at),
              updated: new Date(r.updated_at),
            });
            if (filter.match(info)) await fn(info);
          }
        }
      },

      async close() {
        // A view for one caller; the backend belongs to the gateway.
      },
    };
  }

  /**
   * containerd's garbageCollect for one snapshotter: every backend snapshot that no namespace's record
   * names is removed, children before parents; then the backend reclaims disk in its Cleanup, outside the
   * lock, so creations wait only for the removals.
   */
  async function sweep(): Promise<number> {
    if (!dirty) return 0;
    dirty = false;
    const backend = opts.backend();
    let removed = 0;
    try {
      removed = await gcLock.write(async () => {
        const seen = new Set(s.bkeys.all(name) as string[]);
        interface Node { name?: string; remove: boolean; children: Node[] }
        const nodes = new Map<string, Node>();
        const roots: Node[] = [];
        const nodeOf = (n: string) => {
          let node = nodes.get(n);
          if (!node) nodes.set(n, (node = { remove: false, children: [] }));
          return node;
        };
        await backend.walk((info) => {
          const node = nodeOf(info.name);
          node.name = info.name;
          node.remove = !seen.has(info.name);
          if (info.parent === '') roots.push(node);
          else nodeOf(info.parent).children.push(node);
        });
        // Depth first, each node after all of its children (chains run to hundreds of layers, so no
        // recursion). A snapshot the backend will not remove yet (a child appeared) waits for next time.
        let count = 0;
        const stack: { node: Node; expanded: boolean }[] = roots.map((node) => ({ node, expanded: false }));
        while (stack.length > 0) {
          const top = stack.pop()!;
          if (!top.expanded) {
            stack.push({ node: top.node, expanded: true });
            for (const child of top.node.children) stack.push({ node: child, expanded: false });
            continue;
          }
          const { node } = top;
          if (!node.remove || node.name === undefined) continue;
          try {
            await backend.remove(node.name);
            count++;
            log.debug({ snapshotter: name, key: node.name }, 'removed snapshot');
          } catch (err) {
            if (!(err instanceof FailedPreconditionError)) throw err;
            log.warn({ snapshotter: name, key: node.name, err }, 'failed to remove snapshot');
          }
        }
        return count;
      });
    } catch (err) {
      // Not swept (the backend is down, say): the next collection tries again.
      dirty = true;
      throw err;
    }
    if (backend.cleanup) {
      try {
        await backend.cleanup();
      } catch (err) {
        if (!(err instanceof NotImplementedError)) throw err;
      }
    }
    return removed;
  }

  return {
    name,
    kind: holder.kind,
    holds: holder.holds,
    snapshotter,
    markDirty() {
      dirty = true;
    },
    sweep,
  };
}
