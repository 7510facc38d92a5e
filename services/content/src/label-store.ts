import { openSqlite } from '@flotilla/sqlite';

/**
 * Mutable facts about blobs, which the blob files cannot hold: their labels and when they last changed
 * (containerd's local store keeps labels in a LabelStore and the update time in the file's atime, which
 * any read under relatime may move; a row is steadier). SQLite in WAL mode, so Info and List read while
 * Update writes.
 */
export interface BlobMeta {
  readonly labels: Record<string, string>;
  /** Last Update (or labelled commit), ms since the epoch; undefined when the blob was never labelled. */
  readonly updatedAt?: number;
}

export interface LabelStore {
  get(digest: string): BlobMeta;
  /** Every blob that has a row, for List: one query rather than one per blob. */
  all(): Map<string, BlobMeta>;
  /** Replace every label. Empty values are not kept: an empty label is an absent one, as in containerd. */
  set(digest: string, labels: Readonly<Record<string, string>>, now: number): Record<string, string>;
  /** Set the given keys; an empty value removes its key. Returns the labels after the change. */
  update(digest: string, labels: Readonly<Record<string, string>>, now: number): Record<string, string>;
  remove(digest: string): void;
  close(): void;
}

/** Schema steps, applied in order and recorded in user_version. Never edit a landed step: add one. */
const migrations: readonly string[] = [
  `CREATE TABLE blobs (
     digest TEXT PRIMARY KEY,
     updated_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE blob_labels (
     digest TEXT NOT NULL REFERENCES blobs(digest) ON DELETE CASCADE,
     key TEXT NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (digest, key)
   ) WITHOUT ROWID;`,
];

export function openLabelStore(path: string): LabelStore {
  // WAL without a sync per commit (openSqlite): a power loss may lose the last labels, which is as durable
  // as the blob's own rename (neither store fsyncs the directory).
  const db = openSqlite(path, { migrations });

  const selectBlob = db.prepare<[string], { updated_at: number }>('SELECT updated_at FROM blobs WHERE digest = ?');
  const selectLabels = db.prepare<[string], { key: string; value: string }>('SELECT key, value FROM blob_labels WHERE digest = ?');
  const selectAllBlobs = db.prepare<[], { digest: string; updated_at: number }>('SELECT digest, updated_at FROM blobs');
  const selectAllLabels = db.prepare<[], { digest: string; key: string; value: string }>('SELECT digest, key, value FROM blob_labels');
  const upsertBlob = db.prepare<[string, number]>(
    'INSERT INTO blobs (digest, updated_at) VALUES (?, ?) ON CONFLICT (digest) DO UPDATE SET updated_at = excluded.updated_at',
  );
  const upsertLabel = db.prepare<[string, string, string]>(
    'INSERT INTO blob_labels (digest, key, value) VALUES (?, ?, ?) ON CONFLICT (digest, key) DO UPDATE SET value = excluded.value',
  );
  const deleteLabel = db.prepare<[string, string]>('DELETE FROM blob_labels WHERE digest = ? AND key = ?');
  const deleteLabels = db.prepare<[string]>('DELETE FROM blob_labels WHERE digest = ?');
  const deleteBlob = db.prepare<[string]>('DELETE FROM blobs WHERE digest = ?');

  const labelsOf = (digest: string): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const row of selectLabels.iterate(digest)) out[row.key] = row.value;
    return out;
  };

  const set = db.transaction((digest: string, labels: Readonly<Record<string, string>>, now: number) => {
    upsertBlob.run(digest, now);
    deleteLabels.run(digest);
    for (const [k, v] of Object.entries(labels)) if (v !== '') upsertLabel.run(digest, k, v);
    return labelsOf(digest);
  });
  const update = db.transaction((digest: string, labels: Readonly<Record<string, string>>, now: number) => {
    upsertBlob.run(digest, now);
    for (const [k, v] of Object.entries(labels)) {
      if (v === '') deleteLabel.run(digest, k);
      else upsertLabel.run(digest, k, v);
    }
    return labelsOf(digest);
  });

  return {
    get(digest) {
      const row = selectBlob.get(digest);
      return row ? { labels: labelsOf(digest), updatedAt: row.updated_at } : { labels: {} };
    },
    all() {
      const out = new Map<string, { labels: Record<string, string>; updatedAt: number }>();
      for (const row of selectAllBlobs.iterate()) out.set(row.digest, { labels: {}, updatedAt: row.updated_at });
      for (const row of selectAllLabels.iterate()) {
        const meta = out.get(row.digest);
        if (meta) meta.labels[row.key] = row.value;
      }
      return out;
    },
    set: (digest, labels, now) => set(digest, labels, now),
    update: (digest, labels, now) => update(digest, labels, now),
    remove(digest) {
      deleteBlob.run(digest);
    },
    close() {
      if (db.open) db.close();
    },
  };
}
