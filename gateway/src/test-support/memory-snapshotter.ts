import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '@flotilla/errdefs';
import { snapshotFilter, type Info, type Kind, type Mount, type Snapshotter } from '@flotilla/snapshots';

/** The label a remote snapshotter looks for to offer a layer it already has. */
const REF = 'containerd.io/snapshot.ref';

export interface MemorySnapshotterOptions {
  /**
   * Behave as a remote snapshotter that shares layers: a prepare labelled with a ref that names a committed
   * snapshot (same ref label, same parent) answers AlreadyExists instead of creating anything.
   */
  readonly sharesByRef?: boolean;
}

/** A backend snapshotter in memory, for the gateway's tests, with a record of what it was asked. */
export interface MemorySnapshotter extends Snapshotter {
  cleanup(): Promise<void>;
  /** Backend keys, sorted. */
  keys(): string[];
  /** Every call as `method key`, in order. */
  readonly calls: string[];
  /** How many times cleanup ran. */
  cleanups(): number;
  /** Make every call fail with this error until cleared. */
  failWith(err: Error | undefined): void;
}

interface Entry {
  kind: Kind;
  parent: string;
  labels: Record<string, string>;
  created: Date;
  updated: Date;
}

/**
 * The Snapshotter contract as containerd's snapshotters keep it, without a filesystem: kinds, parents
 * that must be committed, children that hold their parents, labels with field paths, filtered walks.
 * Mounts are a bind of a made-up path, enough for callers that only pass them on.
 */
export function createMemorySnapshotter(opts: MemorySnapshotterOptions = {}): MemorySnapshotter {
  const entries = new Map<string, Entry>();
  const calls: string[] = [];
  let cleanups = 0;
  let failure: Error | undefined;
  const note = (call: string) => {
    calls.push(call);
    if (failure) throw failure;
  };
  const get = (key: string): Entry => {
    const e = entries.get(key);
    if (!e) throw new NotFoundError(`snapshot ${key}`);
    return e;
  };
  const info = (name: string, e: Entry): Info => ({ name, kind: e.kind, parent: e.parent, labels: { ...e.labels }, created: e.created, updated: e.updated });
  const mountsOf = (key: string, kind: Kind): Mount[] => [{ type: 'bind', source: `/memory/${key}`, target: '', options: kind === 'view' ? ['ro', 'rbind'] : ['rw', 'rbind'] }];
  const create = (kind: 'active' | 'view', key: string, parent: string, labels: Readonly<Record<string, string>> = {}): Mount[] => {
    const ref = labels[REF];
    if (opts.sharesByRef && ref !== undefined) {
      for (const e of entries.values()) {
        if (e.kind === 'committed' && e.labels[REF] === ref && e.parent === parent) throw new AlreadyExistsError(`target snapshot ${ref}`);
      }
    }
    if (entries.has(key)) throw new AlreadyExistsError(`snapshot ${key}`);
    if (parent !== '' && get(parent).kind !== 'committed') throw new InvalidArgumentError(`parent ${parent} is not committed`);
    const now = new Date();
    entries.set(key, { kind, parent, labels: { ...labels }, created: now, updated: now });
    return mountsOf(key, kind);
  };
  return {
    calls,
    keys: () => [...entries.keys()].sort(),
    cleanups: () => cleanups,
    failWith(err) {
      failure = err;
    },
    async stat(key) {
      note(`stat ${key}`);
      return info(key, get(key));
    },
    async update(i, fieldpaths = []) {
      note(`update ${i.name}`);
      const e = get(i.name);
      const given = i.labels ?? {};
      let labels = { ...e.labels };
      if (fieldpaths.length === 0) labels = { ...given };
      for (const p of fieldpaths) {
        if (p === 'labels') labels = { ...given };
        else if (p.startsWith('labels.')) labels[p.slice(7)] = given[p.slice(7)] ?? '';
        else throw new InvalidArgumentError(`cannot update ${p}`);
      }
      e.labels = Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ''));
      e.updated = new Date();
      return info(i.name, e);
    },
    async usage(key) {
      note(`usage ${key}`);
      get(key);
      return { size: 4096, inodes: 1 };
    },
    async mounts(key) {
      note(`mounts ${key}`);
      const e = get(key);
      if (e.kind === 'committed') throw new FailedPreconditionError(`${key} is committed`);
      return mountsOf(key, e.kind);
    },
    async prepare(key, parent, o) {
      note(`prepare ${key}`);
      return create('active', key, parent, o?.labels);
    },
    async view(key, parent, o) {
      note(`view ${key}`);
      return create('view', key, parent, o?.labels);
    },
    async commit(name, key, o) {
      note(`commit ${key}`);
      const e = get(key);
      if (e.kind !== 'active') throw new FailedPreconditionError(`${key} is not active`);
      if (entries.has(name)) throw new AlreadyExistsError(`snapshot ${name}`);
      const parent = o?.parent !== undefined && o.parent !== '' ? o.parent : e.parent;
      entries.delete(key);
      const now = new Date();
      entries.set(name, { kind: 'committed', parent, labels: { ...o?.labels }, created: now, updated: now });
    },
    async remove(key) {
      note(`remove ${key}`);
      get(key);
      for (const e of entries.values()) if (e.parent === key) throw new FailedPreconditionError(`${key} has children`);
      entries.delete(key);
    },
    async walk(fn, ...filters) {
      note('walk');
      const f = snapshotFilter(filters);
      for (const [name, e] of [...entries]) {
        const i = info(name, e);
        if (f.match(i)) await fn(i);
      }
    },
    async cleanup() {
      note('cleanup');
      cleanups++;
    },
    async close() {},
  };
}
