import { openSqlite } from '@flotilla/sqlite';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from '@flotilla/errdefs';
import type { Info, InfoUpdate, Kind, Usage } from '@flotilla/snapshots';

/**
 * The snapshotter's own metadata, with the semantics of containerd's core/snapshots/storage: which
 * snapshots exist, under which key or name, of which kind, on which parent, with which labels and
 * times, and (for committed ones) how much disk they took. Each snapshot has an id that never changes,
 * not even when commit renames it, and is never reused, so the directory named by it belongs to it
 * alone: a directory whose id has no row is an orphan that cleanup may delete.
 *
 * SQLite through better-sqlite3, which is synchronous: a transaction runs to its end before any other
 * call is served, which is what bolt's single writer gives containerd. Callers put the few filesystem
 * steps that must succeed or fail with a change (creating a snapshot's directory) inside `transaction`.
 */

/** A snapshot as its mounts need it (containerd's storage.Snapshot). */
export interface StoredSnapshot {
  readonly id: string;
  readonly kind: Kind;
  /** The ids of the parent chain, nearest first; empty for a snapshot without a parent. */
  readonly parentIds: readonly string[];
}

export interface StoredInfo {
  readonly id: string;
  readonly info: Info;
  /** Measured at commit; zero for active snapshots and views. */
  readonly usage: Usage;
}

export interface MetadataStore {
  /** Run `fn` in one transaction (nested ones become savepoints); a throw rolls back all it changed. */
  transaction<T>(fn: () => T): T;
  /** A snapshot of any kind by key or name; NotFound when there is none. */
  getInfo(key: string): StoredInfo;
  /**
   * An active snapshot or view with its parent chain, for its mounts. NotFound when there is none,
   * FailedPrecondition for a committed snapshot (it has no mounts of its own).
   */
  getSnapshot(key: string): StoredSnapshot;
  /**
   * Record a new active snapshot or view. NotFound for a parent that does not exist, InvalidArgument for
   * one that is not committed, AlreadyExists for a key in use.
   */
  createSnapshot(kind: 'active' | 'view', key: string, parent: string, labels: Readonly<Record<string, string>> | undefined, now: Date): StoredSnapshot;
  /** Change labels by containerd's field-path rules (see Snapshotter.update). NotFound, InvalidArgument. */
  updateInfo(update: InfoUpdate, fieldpaths: readonly string[], now: Date): Info;
  /**
   * Make active snapshot `key` the committed snapshot `name`, keeping its id and parent; `labels` replace
   * its own. AlreadyExists when the name is taken, NotFound when the key is, FailedPrecondition when it is
   * not active. Returns the id.
   */
  commitActive(key: string, name: string, usage: Usage, labels: Readonly<Record<string, string>> | undefined, now: Date): string;
  /** Drop a snapshot. NotFound, or FailedPrecondition while it has children. */
  remove(key: string): { readonly id: string; readonly kind: Kind };
  /** Every snapshot, ordered by name (bolt's key order, which containerd's Walk follows). */
  list(): StoredInfo[];
  /** The ids of every snapshot: the directories that are not orphans. */
  ids(): Set<string>;
  close(): void;
}

/** Schema steps, applied in order and recorded in user_version. Never edit a landed step: add one. */
const migrations: readonly string[] = [
  // AUTOINCREMENT so that an id is never handed out twice, as bolt's NextSequence: a removed snapshot's
  // directory may outlive its row until cleanup, and must not be mistaken for a new snapshot's.
  `CREATE TABLE snapshots (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     name TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL CHECK (kind IN ('view', 'active', 'committed')),
     parent_id INTEGER REFERENCES snapshots(id),
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     size INTEGER NOT NULL DEFAULT 0,
     inodes INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX snapshots_by_parent ON snapshots(parent_id);
   CREATE TABLE snapshot_labels (
     snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
     key TEXT NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (snapshot_id, key)
   ) WITHOUT ROWID;`,
];

interface SnapshotRow {
  id: number;
  name: string;
  kind: Kind;
  parent_id: number | null;
  parent: string | null;
  created_at: number;
  updated_at: number;
  size: number;
  inodes: number;
}

interface LabelRow {
  snapshot_id: number;
  key: string;
  value: string;
}

/** Labels as stored: an empty value is not kept (containerd's boltutil.WriteLabels drops it). */
function storedLabels(labels: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) if (v !== '') out[k] = v;
  return out;
}

export function openMetadataStore(path: string): MetadataStore {
  // WAL without a sync per commit (openSqlite): a power loss may lose the last transactions, as it may the
  // directories they describe (nothing here fsyncs a directory either).
  const db = openSqlite(path, { migrations });

  const selectColumns = `SELECT s.id, s.name, s.kind, s.parent_id, p.name AS parent, s.created_at, s.updated_at, s.size, s.inodes
                           FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent_id`;
  const byName = db.prepare<[string], SnapshotRow>(`${selectColumns} WHERE s.name = ?`);
  const all = db.prepare<[], SnapshotRow>(`${selectColumns} ORDER BY s.name`);
  const labelsOf = db.prepare<[number], LabelRow>('SELECT snapshot_id, key, value FROM snapshot_labels WHERE snapshot_id = ?');
  const allLabels = db.prepare<[], LabelRow>('SELECT snapshot_id, key, value FROM snapshot_labels');
  const deleteLabels = db.prepare<[number]>('DELETE FROM snapshot_labels WHERE snapshot_id = ?');
  const insertLabel = db.prepare<[number, string, string]>('INSERT INTO snapshot_labels (snapshot_id, key, value) VALUES (?, ?, ?)');
  const insertSnapshot = db.prepare<[string, Kind, number | null, number, number]>(
    'INSERT INTO snapshots (name, kind, parent_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
  );
  const commitRow = db.prepare<[string, number, number, number, number, number]>(
    `UPDATE snapshots SET name = ?, kind = 'committed', created_at = ?, updated_at = ?, size = ?, inodes = ? WHERE id = ?`,
  );
  const touch = db.prepare<[number, number]>('UPDATE snapshots SET updated_at = ? WHERE id = ?');
  const firstChild = db.prepare<[number], { id: number }>('SELECT id FROM snapshots WHERE parent_id = ? LIMIT 1');
  const deleteSnapshot = db.prepare<[number]>('DELETE FROM snapshots WHERE id = ?');
  const allIds = db.prepare<[], { id: number }>('SELECT id FROM snapshots');
  const chain = db.prepare<[number], { id: number }>(
    `WITH RECURSIVE chain(id, parent_id, depth) AS (
       SELECT id, parent_id, 0 FROM snapshots WHERE id = ?
       UNION ALL
       SELECT s.id, s.parent_id, chain.depth + 1 FROM snapshots s JOIN chain ON s.id = chain.parent_id
     )
     SELECT id FROM chain ORDER BY depth`,
  );

  const writeLabels = (id: number, labels: Record<string, string>): void => {
    deleteLabels.run(id);
    for (const [k, v] of Object.entries(labels)) insertLabel.run(id, k, v);
  };

  const readLabels = (id: number): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const r of labelsOf.iterate(id)) out[r.key] = r.value;
    return out;
  };

  const infoOf = (row: SnapshotRow, labels: Record<string, string>): Info => ({
    kind: row.kind,
    name: row.name,
    parent: row.parent ?? '',
    labels,
    created: new Date(row.created_at),
    updated: new Date(row.updated_at),
  });

  const parentIds = (parentId: number | null): string[] =>
    parentId === null ? [] : chain.all(parentId).map((r) => String(r.id));

  const find = (key: string): SnapshotRow => {
    const row = byName.get(key);
    if (row === undefined) throw new NotFoundError(`snapshot ${key} does not exist`);
    return row;
  };

  return {
    transaction: (fn) => db.transaction(fn)(),

    getInfo(key) {
      const row = find(key);
      return { id: String(row.id), info: infoOf(row, readLabels(row.id)), usage: { size: row.size, inodes: row.inodes } };
    },

    getSnapshot(key) {
      const row = find(key);
      if (row.kind === 'committed') throw new FailedPreconditionError(`requested snapshot ${key} not active or view`);
      return { id: String(row.id), kind: row.kind, parentIds: parentIds(row.parent_id) };
    },

    createSnapshot: db.transaction((kind: 'active' | 'view', key: string, parent: string, labels: Readonly<Record<string, string>> | undefined, now: Date): StoredSnapshot => {
      if (key === '') throw new InvalidArgumentError('snapshot key must not be empty');
      let parentRow: SnapshotRow | undefined;
      if (parent !== '') {
        parentRow = byName.get(parent);
        if (parentRow === undefined) throw new NotFoundError(`missing parent ${JSON.stringify(parent)}`);
        if (parentRow.kind !== 'committed') throw new InvalidArgumentError(`parent ${JSON.stringify(parent)} is not committed snapshot`);
      }
      if (byName.get(key) !== undefined) throw new AlreadyExistsError(`snapshot ${key}`);
      const t = now.getTime();
      const id = Number(insertSnapshot.run(key, kind, parentRow?.id ?? null, t, t).lastInsertRowid);
      writeLabels(id, storedLabels(labels));
      return { id: String(id), kind, parentIds: parentIds(parentRow?.id ?? null) };
    }),

    updateInfo: db.transaction((update: InfoUpdate, fieldpaths: readonly string[], now: Date): Info => {
      const row = byName.get(update.name);
      if (row === undefined) throw new NotFoundError(`snapshot ${update.name} does not exist`);
      const given = update.labels ?? {};
      let labels = readLabels(row.id);
      if (fieldpaths.length === 0) {
        labels = { ...given };
      } else {
        for (const path of fieldpaths) {
          if (path.startsWith('labels.')) {
            const key = path.slice('labels.'.length);
            labels[key] = given[key] ?? '';
          } else if (path === 'labels') {
            labels = { ...given };
          } else {
            throw new InvalidArgumentError(`cannot update ${JSON.stringify(path)} field on snapshot ${JSON.stringify(update.name)}`);
          }
        }
      }
      const kept = storedLabels(labels);
      writeLabels(row.id, kept);
      touch.run(now.getTime(), row.id);
      return infoOf({ ...row, updated_at: now.getTime() }, kept);
    }),

    commitActive: db.transaction((key: string, name: string, usage: Usage, labels: Readonly<Record<string, string>> | undefined, now: Date): string => {
      if (name === '') throw new InvalidArgumentError('snapshot name must not be empty');
      if (byName.get(name) !== undefined) throw new AlreadyExistsError(`committed snapshot ${name}`);
      const row = byName.get(key);
      if (row === undefined) throw new NotFoundError(`failed to get active snapshot ${JSON.stringify(key)}`);
      if (row.kind !== 'active') throw new FailedPreconditionError(`snapshot ${JSON.stringify(key)} is not active`);
      const t = now.getTime();
      commitRow.run(name, t, t, usage.size, usage.inodes, row.id);
      // The committed snapshot's labels are the commit's, not the active snapshot's.
      writeLabels(row.id, storedLabels(labels));
      return String(row.id);
    }),

    remove: db.transaction((key: string) => {
      const row = byName.get(key);
      if (row === undefined) throw new NotFoundError(`snapshot ${key}`);
      if (firstChild.get(row.id) !== undefined) throw new FailedPreconditionError(`cannot remove snapshot ${key} with child`);
      deleteSnapshot.run(row.id);
      return { id: String(row.id), kind: row.kind };
    }),

    list() {
      const labels = new Map<number, Record<string, string>>();
      for (const r of allLabels.iterate()) {
        let l = labels.get(r.snapshot_id);
        if (l === undefined) labels.set(r.snapshot_id, (l = {}));
        l[r.key] = r.value;
      }
      return all.all().map((row) => ({
        id: String(row.id),
        info: infoOf(row, labels.get(row.id) ?? {}),
        usage: { size: row.size, inodes: row.inodes },
      }));
    },

    ids() {
      return new Set(allIds.all().map((r) => String(r.id)));
    },

    close() {
      if (db.open) db.close();
    },
  };
}
