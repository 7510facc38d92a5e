import { openSqlite, type Sqlite } from '@flotilla/sqlite';

export type Db = Sqlite;

/**
 * Schema changes, applied in order and recorded in `user_version`. Never edit a landed step: add one.
 * Every namespaced table names its namespace column `namespace` and references namespaces(name): objects
 * that hold a namespace open (images, content, containers, snapshots) restrict its deletion through
 * NamespaceHolder checks, the rest (labels, leases) go with it, as in containerd.
 */
const migrations: readonly string[] = [
  `CREATE TABLE namespaces (
     name TEXT PRIMARY KEY,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE namespace_labels (
     namespace TEXT NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
     key TEXT NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (namespace, key)
   ) WITHOUT ROWID;`,
  `CREATE TABLE leases (
     namespace TEXT NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
     id TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (namespace, id)
   ) WITHOUT ROWID;
   CREATE TABLE lease_labels (
     namespace TEXT NOT NULL,
     lease TEXT NOT NULL,
     key TEXT NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (namespace, lease, key),
     FOREIGN KEY (namespace, lease) REFERENCES leases(namespace, id) ON DELETE CASCADE
   ) WITHOUT ROWID;
   CREATE TABLE lease_resources (
     namespace TEXT NOT NULL,
     lease TEXT NOT NULL,
     type TEXT NOT NULL,
     id TEXT NOT NULL,
     PRIMARY KEY (namespace, lease, type, id),
     FOREIGN KEY (namespace, lease) REFERENCES leases(namespace, id) ON DELETE CASCADE
   ) WITHOUT ROWID;`,
  // Content as each namespace sees it (the bytes live once, in the content process), and the ingests a
  // namespace has open there (`bref` names the backend ingest).
  `CREATE TABLE content (
     namespace TEXT NOT NULL REFERENCES namespaces(name),
     digest TEXT NOT NULL,
     size INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (namespace, digest)
   ) WITHOUT ROWID;
   CREATE TABLE content_labels (
     namespace TEXT NOT NULL,
     digest TEXT NOT NULL,
     key TEXT NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (namespace, digest, key),
     FOREIGN KEY (namespace, digest) REFERENCES content(namespace, digest) ON DELETE CASCADE
   ) WITHOUT ROWID;
   CREATE TABLE ingests (
     namespace TEXT NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
     ref TEXT NOT NULL,
     bref TEXT NOT NULL,
     expected TEXT NOT NULL DEFAULT '',
     expires_at INTEGER,
     -- when the gateway last accepted bytes for it (writes to the backend are pipelined, so the backend's
     -- own stamp comes a little later than what the client saw)
     updated_at INTEGER,
     PRIMARY KEY (namespace, ref)
   ) WITHOUT ROWID;`,
  // Images: a name in a namespace pointing at a target descriptor, with labels and the target's
  // annotations. An image holds its namespace open; its labels and annotations go with it.
  `CREATE TABLE images (
     namespace TEXT NOT NULL REFERENCES namespaces(name),
     name TEXT NOT NULL,
     media_type TEXT NOT NULL,
     digest TEXT NOT NULL,
     size INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (namespace, name)
   ) WITHOUT ROWID;
   CREATE TABLE image_labels (
     namespace TEXT NOT NULL,
     image TEXT NOT NULL,
     key TEXT NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (namespace, image, key),
     FOREIGN KEY (namespace, image) REFERENCES images(namespace, name) ON DELETE CASCADE
   ) WITHOUT ROWID;
   CREATE TABLE image_annotations (
     namespace TEXT NOT NULL,
     image TEXT NOT NULL,
     key TEXT NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (namespace, image, key),
     FOREIGN KEY (namespace, image) REFERENCES images(namespace, name) ON DELETE CASCADE
   ) WITHOUT ROWID;`,
  // Snapshots as each namespace sees them, per snapshotter: the caller's key (or committed name) and the
  // backend's key for it (`<namespace>/<sequence>/<key>`), the parent's name in the same namespace and
  // snapshotter, times and labels; the kind is the backend's. A snapshot holds its namespace open. The
  // sequences outlive their namespace on purpose: a namespace deleted and made again must not hand out a
  // backend key that a not yet collected snapshot of the old one still has.
  `CREATE TABLE snapshots (
     namespace TEXT NOT NULL REFERENCES namespaces(name),
     snapshotter TEXT NOT NULL,
     key TEXT NOT NULL,
     bkey TEXT NOT NULL,
     parent TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (namespace, snapshotter, key)
   ) WITHOUT ROWID;
   CREATE INDEX snapshots_by_parent ON snapshots (namespace, snapshotter, parent);
   CREATE TABLE snapshot_labels (
     namespace TEXT NOT NULL,
     snapshotter TEXT NOT NULL,
     snapshot TEXT NOT NULL,
     key TEXT NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (namespace, snapshotter, snapshot, key),
     FOREIGN KEY (namespace, snapshotter, snapshot) REFERENCES snapshots(namespace, snapshotter, key) ON DELETE CASCADE
   ) WITHOUT ROWID;
   CREATE TABLE snapshot_sequences (
     namespace TEXT NOT NULL,
     snapshotter TEXT NOT NULL,
     last INTEGER NOT NULL,
     PRIMARY KEY (namespace, snapshotter)
   ) WITHOUT ROWID;`,
  // Containers: metadata only (a task is the runtime's). Each protobuf Any (the spec, the runtime's
  // options, every extension) is kept as its type URL and its encoded bytes, untouched, so a client reads
  // back exactly what it wrote; runtime options are NULL when the client gave none. A container holds its
  // namespace open; its labels and extensions go with it.
  `CREATE TABLE containers (
     namespace TEXT NOT NULL REFERENCES namespaces(name),
     id TEXT NOT NULL,
     image TEXT NOT NULL,
     runtime_name TEXT NOT NULL,
     runtime_options_type TEXT,
     runtime_options BLOB,
     spec_type TEXT NOT NULL,
     spec BLOB NOT NULL,
     snapshotter TEXT NOT NULL,
     snapshot_key TEXT NOT NULL,
     sandbox TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (namespace, id)
   ) WITHOUT ROWID;
   CREATE TABLE container_labels (
     namespace TEXT NOT NULL,
     container TEXT NOT NULL,
     key TEXT NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (namespace, container, key),
     FOREIGN KEY (namespace, container) REFERENCES containers(namespace, id) ON DELETE CASCADE
   ) WITHOUT ROWID;
   CREATE TABLE container_extensions (
     namespace TEXT NOT NULL,
     container TEXT NOT NULL,
     name TEXT NOT NULL,
     type TEXT NOT NULL,
     value BLOB NOT NULL,
     PRIMARY KEY (namespace, container, name),
     FOREIGN KEY (namespace, container) REFERENCES containers(namespace, id) ON DELETE CASCADE
   ) WITHOUT ROWID;`,
  // When an ingest the gateway made started: the gateway answers its opening before the content process
  // has made it (content.ts), and every status after tells the same start. NULL for older ingests, and
  // for one that resumed another's, whose start the backend knows.
  `ALTER TABLE ingests ADD COLUMN started_at INTEGER;`,
];

/**
 * Open (creating if needed) the gateway's metadata database. WAL without a sync per commit (openSqlite): a
 * commit survives a crash of the process at once, and one of the machine once durability.ts has synced
 * the WAL, which the gateway does before any answer leaves (off the event loop, one sync for many
 * commits). The gateway is the only process that may use it, as containerd's daemon is for its bolt file.
 */
export function openMetadata(path: string): Db {
  return openSqlite(path, { migrations });
}
