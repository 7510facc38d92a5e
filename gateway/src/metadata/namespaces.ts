import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from '@flotilla/errdefs';
import { validateIdentifier } from '@flotilla/rpc';
import type { Db } from './db.js';
import { validateLabels } from './labels.js';

/**
 * A namespace partitions every other object: images, containers, content references, snapshots, leases
 * and sandboxes are all looked up within one. Its only data of its own are labels.
 */
export interface Namespace {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Something that keeps objects inside namespaces (images, leases, ...). Deleting a namespace asks each
 * one whether it still holds anything, as containerd refuses to drop a namespace that is not empty.
 */
export interface NamespaceHolder {
  /** The plural noun containerd uses in its error ("images", "leases", ...). */
  readonly kind: string;
  holds(namespace: string): boolean;
}

export interface NamespaceStore {
  create(name: string, labels: Readonly<Record<string, string>>): Namespace;
  /** A namespace and its labels. Like containerd, an unknown name reads as one with no labels. */
  get(name: string): Namespace;
  list(): Namespace[];
  /** The labels of a namespace; empty (not an error) when it does not exist, as in containerd. */
  labels(name: string): Record<string, string>;
  /** Set one label, or remove it when `value` is ''. Creates the namespace if needed, as containerd does. */
  setLabel(name: string, key: string, value: string): void;
  /** Replace all labels at once. */
  replaceLabels(name: string, labels: Readonly<Record<string, string>>): void;
  delete(name: string): void;
  /** Register another table that keeps objects in namespaces. */
  addHolder(holder: NamespaceHolder): void;
}

export function createNamespaceStore(db: Db): NamespaceStore {
  const holders: NamespaceHolder[] = [];
  const q = {
    insert: db.prepare('INSERT INTO namespaces (name, created_at, updated_at) VALUES (?, ?, ?)'),
    ensure: db.prepare('INSERT OR IGNORE INTO namespaces (name, created_at, updated_at) VALUES (?, ?, ?)'),
    touch: db.prepare('UPDATE namespaces SET updated_at = ? WHERE name = ?'),
    exists: db.prepare('SELECT 1 FROM namespaces WHERE name = ?').pluck(),
    names: db.prepare('SELECT name FROM namespaces ORDER BY name').pluck(),
    labels: db.prepare('SELECT key, value FROM namespace_labels WHERE namespace = ?'),
    allLabels: db.prepare('SELECT namespace, key, value FROM namespace_labels'),
    setLabel: db.prepare('INSERT INTO namespace_labels (namespace, key, value) VALUES (?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value'),
    delLabel: db.prepare('DELETE FROM namespace_labels WHERE namespace = ? AND key = ?'),
    clearLabels: db.prepare('DELETE FROM namespace_labels WHERE namespace = ?'),
    delete: db.prepare('DELETE FROM namespaces WHERE name = ?'),
  };

  const labelsOf = (name: string): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const row of q.labels.all(name) as { key: string; value: string }[]) out[row.key] = row.value;
    return out;
  };

  const setLabel = (name: string, key: string, value: string, now: number) => {
    q.ensure.run(name, now, now);
    if (value === '') q.delLabel.run(name, key);
    else q.setLabel.run(name, key, value);
    q.touch.run(now, name);
  };

  return {
    create: db.transaction((name: string, labels: Readonly<Record<string, string>>) => {
      validateIdentifier(name);
      validateLabels(labels);
      if (q.exists.get(name)) throw new AlreadyExistsError(`namespace ${JSON.stringify(name)}`);
      const now = Date.now();
      q.insert.run(name, now, now);
      for (const [k, v] of Object.entries(labels)) q.setLabel.run(name, k, v);
      return { name, labels: { ...labels } };
    }),
    get(name) {
      return { name, labels: labelsOf(name) };
    },
    list() {
      const byNs = new Map<string, Record<string, string>>();
      for (const name of q.names.all() as string[]) byNs.set(name, {});
      for (const row of q.allLabels.all() as { namespace: string; key: string; value: string }[]) {
        const l = byNs.get(row.namespace);
        if (l) l[row.key] = row.value;
      }
      return [...byNs].map(([name, labels]) => ({ name, labels }));
    },
    labels: labelsOf,
    setLabel: db.transaction((name: string, key: string, value: string) => {
      validateIdentifier(name);
      if (value !== '') validateLabels({ [key]: value });
      setLabel(name, key, value, Date.now());
    }),
    replaceLabels: db.transaction((name: string, labels: Readonly<Record<string, string>>) => {
      validateIdentifier(name);
      validateLabels(labels);
      const now = Date.now();
      q.ensure.run(name, now, now);
      q.clearLabels.run(name);
      for (const [k, v] of Object.entries(labels)) if (v !== '') q.setLabel.run(name, k, v);
      q.touch.run(now, name);
    }),
    delete: db.transaction((name: string) => {
      if (!q.exists.get(name)) throw new NotFoundError(`namespace ${JSON.stringify(name)}`);
      const held = holders.filter((h) => h.holds(name)).map((h) => h.kind);
      if (held.length > 0) {
        throw new FailedPreconditionError(`namespace ${JSON.stringify(name)} must be empty, but it still has ${held.join(', ')}`);
      }
      q.delete.run(name);
    }),
    addHolder(holder) {
      holders.push(holder);
    },
  };
}
