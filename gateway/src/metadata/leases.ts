import { AlreadyExistsError, InvalidArgumentError, NotFoundError, NotImplementedError } from '@flotilla/errdefs';
import type { Db } from './db.js';
import { validateLabels } from './labels.js';

/**
 * A lease keeps objects alive against garbage collection while a client works with them (a pull holds
 * its blobs and snapshots under one until the image record exists). It is namespaced; its resources name
 * what it holds: `content` (a digest), `ingests` (a write ref) or `snapshots/<snapshotter>` (a key).
 * Expiry is a label (`containerd.io/gc.expire`) that garbage collection reads.
 */
export interface Lease {
  readonly id: string;
  readonly createdAt: Date;
  readonly labels: Readonly<Record<string, string>>;
}

export interface LeaseResource {
  readonly id: string;
  readonly type: string;
}

export interface LeaseStore {
  create(namespace: string, id: string, labels: Readonly<Record<string, string>>): Lease;
  get(namespace: string, id: string): Lease;
  list(namespace: string): Lease[];
  delete(namespace: string, id: string): void;
  addResource(namespace: string, id: string, r: LeaseResource): void;
  deleteResource(namespace: string, id: string, r: LeaseResource): void;
  listResources(namespace: string, id: string): LeaseResource[];
}

const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/**
 * containerd's parseLeaseResource: the resource kinds a lease may hold, with their id rules. A malformed
 * type is InvalidArgument; a kind containerd does not know is NotImplemented, as containerd answers. An
 * empty id, which containerd would fail on only when writing it, is refused here as InvalidArgument.
 */
export function validateResource(r: LeaseResource): void {
  const keys = r.type.split('/');
  switch (keys[0]) {
    case 'content':
    case 'ingests':
      if (keys.length !== 1) throw new InvalidArgumentError(`invalid resource type ${r.type}`);
      if (keys[0] === 'content' && !DIGEST.test(r.id)) throw new InvalidArgumentError(`invalid content resource id ${r.id}: invalid checksum digest format`);
      if (r.id === '') throw new InvalidArgumentError(`resource ${r.type}: empty id`);
      return;
    case 'snapshots':
      if (keys.length !== 2 || keys[1] === '') throw new InvalidArgumentError(`invalid snapshot resource type ${r.type}`);
      if (r.id === '') throw new InvalidArgumentError(`resource ${r.type}: empty id`);
      return;
    default:
      throw new NotImplementedError(`resource type ${r.type} not supported yet`);
  }
}

export function createLeaseStore(db: Db): LeaseStore {
  const q = {
    exists: db.prepare('SELECT created_at FROM leases WHERE namespace = ? AND id = ?').pluck(),
    insert: db.prepare('INSERT INTO leases (namespace, id, created_at) VALUES (?, ?, ?)'),
    ensureNs: db.prepare('INSERT OR IGNORE INTO namespaces (name, created_at, updated_at) VALUES (?, ?, ?)'),
    label: db.prepare('INSERT INTO lease_labels (namespace, lease, key, value) VALUES (?, ?, ?, ?)'),
    labels: db.prepare('SELECT key, value FROM lease_labels WHERE namespace = ? AND lease = ?'),
    list: db.prepare('SELECT id, created_at FROM leases WHERE namespace = ? ORDER BY id'),
    allLabels: db.prepare('SELECT lease, key, value FROM lease_labels WHERE namespace = ?'),
    delete: db.prepare('DELETE FROM leases WHERE namespace = ? AND id = ?'),
    addRes: db.prepare('INSERT OR IGNORE INTO lease_resources (namespace, lease, type, id) VALUES (?, ?, ?, ?)'),
    delRes: db.prepare('DELETE FROM lease_resources WHERE namespace = ? AND lease = ? AND type = ? AND id = ?'),
    listRes: db.prepare('SELECT type, id FROM lease_resources WHERE namespace = ? AND lease = ? ORDER BY type, id'),
  };
  const mustExist = (ns: string, id: string): number => {
    const created = q.exists.get(ns, id) as number | undefined;
    if (created === undefined) throw new NotFoundError(`lease ${JSON.stringify(id)}`);
    return created;
  };
  const labelsOf = (ns: string, id: string) => {
    const out: Record<string, string> = {};
    for (const r of q.labels.all(ns, id) as { key: string; value: string }[]) out[r.key] = r.value;
    return out;
  };
  return {
    create: db.transaction((ns: string, id: string, labels: Readonly<Record<string, string>>) => {
      // containerd accepts any non-empty lease id (its clients generate ids like "123456-AbC_x=").
      if (id === '') throw new InvalidArgumentError('lease id must be provided');
      validateLabels(labels);
      if (q.exists.get(ns, id) !== undefined) throw new AlreadyExistsError(`lease ${JSON.stringify(id)}`);
      const now = Date.now();
      // containerd creates a namespace implicitly when the first object lands in it.
      q.ensureNs.run(ns, now, now);
      q.insert.run(ns, id, now);
      for (const [k, v] of Object.entries(labels)) q.label.run(ns, id, k, v);
      return { id, createdAt: new Date(now), labels: { ...labels } };
    }),
    get(ns, id) {
      const created = mustExist(ns, id);
      return { id, createdAt: new Date(created), labels: labelsOf(ns, id) };
    },
    list(ns) {
      const labels = new Map<string, Record<string, string>>();
      for (const r of q.allLabels.all(ns) as { lease: string; key: string; value: string }[]) {
        let l = labels.get(r.lease);
        if (!l) labels.set(r.lease, (l = {}));
        l[r.key] = r.value;
      }
      return (q.list.all(ns) as { id: string; created_at: number }[]).map((r) => ({
        id: r.id,
        createdAt: new Date(r.created_at),
        labels: labels.get(r.id) ?? {},
      }));
    },
    delete: db.transaction((ns: string, id: string) => {
      mustExist(ns, id);
      q.delete.run(ns, id);
    }),
    addResource: db.transaction((ns: string, id: string, r: LeaseResource) => {
      mustExist(ns, id);
      validateResource(r);
      q.addRes.run(ns, id, r.type, r.id);
    }),
    deleteResource: db.transaction((ns: string, id: string, r: LeaseResource) => {
      mustExist(ns, id);
      q.delRes.run(ns, id, r.type, r.id);
    }),
    listResources(ns, id) {
      mustExist(ns, id);
      return q.listRes.all(ns, id) as LeaseResource[];
    },
  };
}
