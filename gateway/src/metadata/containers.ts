import { AlreadyExistsError, InvalidArgumentError, NotFoundError, errorClasses, isErrdefs } from '@flotilla/errdefs';
import type { Adaptor } from '@flotilla/filters';
import { validateRuntimeName } from '@flotilla/config';
import { validateIdentifier } from '@flotilla/rpc';
import { ABSENT, checkMap, parseStoreFilters, scalar } from './adaptors.js';
import type { Db } from './db.js';
import { validateLabels } from './labels.js';
import type { NamespaceHolder } from './namespaces.js';

/** A protobuf Any as the store keeps it: the type URL and the encoded message, byte for byte. */
export interface AnyValue {
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

export interface RuntimeInfo {
  /** The runtime v2 shim (`io.containerd.runc.v2`) that will run the container's task. */
  readonly name: string;
  /** The shim's own options (runc's `BinaryName`, ...), opaque here. */
  readonly options?: AnyValue;
}

/**
 * A container record: what a task will be made from (spec, runtime, root filesystem snapshot), not the
 * task itself. Only metadata lives here; the snapshot it names lives in the snapshotter, kept from
 * garbage collection through this record.
 */
export interface Container {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The image it was made from, by name; informational, nothing resolves it. */
  readonly image: string;
  readonly runtime: RuntimeInfo;
  /** The OCI runtime spec, usually `types.containerd.io/opencontainers/runtime-spec/1/Spec` as JSON. */
  readonly spec: AnyValue;
  readonly snapshotter: string;
  /** The active snapshot that is its root filesystem, in `snapshotter`; '' when it brings its own. */
  readonly snapshotKey: string;
  readonly extensions: Readonly<Record<string, AnyValue>>;
  /** The sandbox it belongs to, if any. */
  readonly sandbox: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** What a client gives to create or update a container: anything may be missing until validation. */
export interface ContainerInput {
  readonly id: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly image?: string;
  readonly runtime?: { readonly name?: string; readonly options?: AnyValue | undefined };
  readonly spec?: AnyValue | undefined;
  readonly snapshotter?: string;
  readonly snapshotKey?: string;
  readonly extensions?: Readonly<Record<string, AnyValue>>;
  readonly sandbox?: string;
}

/** What one container keeps alive, for garbage collection. */
export interface ContainerRoot {
  readonly namespace: string;
  readonly id: string;
  readonly image: string;
  readonly snapshotter: string;
  readonly snapshotKey: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ContainerStoreOptions {
  /** Clock, for tests. */
  now?: () => Date;
}

export interface ContainerStore extends NamespaceHolder {
  get(namespace: string, id: string): Container;
  /** Containers in id order (bytewise, as containerd's bolt buckets iterate) matching any of `filters`. */
  list(namespace: string, filters?: readonly string[]): Container[];
  create(namespace: string, container: ContainerInput): Container;
  /**
   * Update by field paths (`labels`, `labels.<k>`, `spec`, `extensions`, `extensions.<k>`, `image`,
   * `snapshotkey`), or, with none, replace those same fields at once: the snapshotter and the runtime
   * are immutable either way.
   */
  update(namespace: string, container: ContainerInput, fieldpaths?: readonly string[]): Container;
  delete(namespace: string, id: string): void;
  /** Every container in every namespace with what it holds: roots for garbage collection. */
  roots(): ContainerRoot[];
}

/** Go's %q for the strings we quote in messages (JSON's escaping agrees for printable text). */
const q = (s: string) => JSON.stringify(s);

/** A container being assembled, before it is validated and stored. */
interface ContainerShape {
  id: string;
  labels: Record<string, string>;
  image: string;
  runtime: { name: string; options: AnyValue | undefined };
  spec: AnyValue | undefined;
  snapshotter: string;
  snapshotKey: string;
  extensions: Record<string, AnyValue>;
  sandbox: string;
}

/** A container that passed validation: it has a spec. */
type ValidShape = ContainerShape & { spec: AnyValue };

function shapeOf(c: ContainerInput): ContainerShape {
  return {
    id: c.id,
    labels: { ...c.labels },
    image: c.image ?? '',
    runtime: { name: c.runtime?.name ?? '', options: c.runtime?.options },
    spec: c.spec,
    snapshotter: c.snapshotter ?? '',
    snapshotKey: c.snapshotKey ?? '',
    extensions: { ...c.extensions },
    sandbox: c.sandbox ?? '',
  };
}

/** Writing labels drops those set to '', as containerd's boltutil.writeMap does (and so does the reply). */
const stored = (m: Readonly<Record<string, string>>) => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== ''));

/**
 * containerd's validateContainer, check for check and in its order, then what containerd 2.0 removed: a
 * runtime that no longer exists is refused here, naming its replacement, rather than failing later when
 * no shim answers to it. A request containerd itself would refuse gets containerd's error first.
 */
function validateContainer(c: ContainerShape): asserts c is ValidShape {
  try {
    validateIdentifier(c.id);
  } catch (err) {
    throw new InvalidArgumentError(`container.ID: ${(err as Error).message}`, { cause: err });
  }
  if (Object.hasOwn(c.extensions, '')) throw new InvalidArgumentError('container.Extension keys must not be zero-length');
  try {
    validateLabels(stored(c.labels));
  } catch (err) {
    throw new InvalidArgumentError(`containers.Labels: ${(err as Error).message}`, { cause: err });
  }
  if (c.runtime.name === '') throw new InvalidArgumentError('container.Runtime.Name must be set');
  if (c.spec === undefined) throw new InvalidArgumentError('container.Spec must be set');
  if (c.snapshotKey !== '' && c.snapshotter === '') {
    throw new InvalidArgumentError('container.Snapshotter must be set if container.SnapshotKey is set');
  }
  validateRuntimeName(c.runtime.name);
}

/** containerd prefixes what validation says with the operation; the kind stays what validation made it. */
function validated(c: ContainerShape, operation: string): asserts c is ValidShape {
  try {
    validateContainer(c);
  } catch (err) {
    if (!isErrdefs(err)) throw err;
    throw new errorClasses[err.kind](`${operation} failed validation: ${err.message}`, { cause: err });
  }
}

/** containerd's adaptContainer: the fields a container filter can name (and no others: not the snapshot). */
function adaptContainer(c: Container): Adaptor {
  return {
    field(fieldpath) {
      const [head, ...rest] = fieldpath;
      switch (head) {
        case 'id':
          return scalar(c.id);
        case 'runtime':
          return rest[0] === 'name' ? scalar(c.runtime.name) : ABSENT;
        case 'image':
          return scalar(c.image);
        case 'labels':
          return checkMap(rest, c.labels);
        default:
          return ABSENT;
      }
    },
  };
}

/** What a full replace (an update with no field paths) may change, as containerd has it. */
const REPLACEABLE = ['labels', 'spec', 'extensions', 'image', 'snapshotkey'] as const;

interface Row {
  namespace: string;
  id: string;
  image: string;
  runtime_name: string;
  runtime_options_type: string | null;
  runtime_options: Uint8Array | null;
  spec_type: string;
  spec: Uint8Array;
  snapshotter: string;
  snapshot_key: string;
  sandbox: string;
  created_at: number;
  updated_at: number;
}

interface LabelRow {
  container: string;
  key: string;
  value: string;
}

interface ExtensionRow {
  container: string;
  name: string;
  type: string;
  value: Uint8Array;
}

/** Rows of `(container, ...)` gathered per container. */
function groupBy<R extends { container: string }, V>(rows: readonly R[], put: (into: Record<string, V>, row: R) => void): Map<string, Record<string, V>> {
  const out = new Map<string, Record<string, V>>();
  for (const r of rows) {
    let m = out.get(r.container);
    if (!m) out.set(r.container, (m = {}));
    put(m, r);
  }
  return out;
}
const putLabel = (m: Record<string, string>, r: LabelRow) => { m[r.key] = r.value; };
const putExtension = (m: Record<string, AnyValue>, r: ExtensionRow) => { m[r.name] = { typeUrl: r.type, value: r.value }; };

/**
 * containerd's container store (core/metadata/containers.go) over SQLite. Every method works within one
 * namespace; creating a container creates its namespace, which it then holds open.
 *
 * Two places differ from containerd on purpose, both where its bolt code keeps what the caller removed:
 * replacing `extensions` drops the ones not given (containerd merges them into the old set on disk, while
 * its reply shows the replacement), and updating `extensions.<k>` with no such extension in the request
 * removes it (containerd stores an empty Any under the name).
 */
export function createContainerStore(db: Db, opts: ContainerStoreOptions = {}): ContainerStore {
  const now = opts.now ?? (() => new Date());
  const cols = `namespace, id, image, runtime_name, runtime_options_type, runtime_options, spec_type, spec,
                snapshotter, snapshot_key, sandbox, created_at, updated_at`;
  const s = {
    ensureNs: db.prepare('INSERT OR IGNORE INTO namespaces (name, created_at, updated_at) VALUES (?, ?, ?)'),
    get: db.prepare(`SELECT ${cols} FROM containers WHERE namespace = ? AND id = ?`),
    list: db.prepare(`SELECT ${cols} FROM containers WHERE namespace = ? ORDER BY id`),
    labels: db.prepare('SELECT container, key, value FROM container_labels WHERE namespace = ? AND container = ?'),
    extensions: db.prepare('SELECT container, name, type, value FROM container_extensions WHERE namespace = ? AND container = ?'),
    allLabels: db.prepare('SELECT container, key, value FROM container_labels WHERE namespace = ?'),
    allExtensions: db.prepare('SELECT container, name, type, value FROM container_extensions WHERE namespace = ?'),
    insert: db.prepare(`INSERT INTO containers (${cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    update: db.prepare(`UPDATE containers SET image = ?, spec_type = ?, spec = ?, snapshot_key = ?, updated_at = ?
                        WHERE namespace = ? AND id = ?`),
    clearLabels: db.prepare('DELETE FROM container_labels WHERE namespace = ? AND container = ?'),
    clearExtensions: db.prepare('DELETE FROM container_extensions WHERE namespace = ? AND container = ?'),
    label: db.prepare('INSERT INTO container_labels (namespace, container, key, value) VALUES (?, ?, ?, ?)'),
    extension: db.prepare('INSERT INTO container_extensions (namespace, container, name, type, value) VALUES (?, ?, ?, ?, ?)'),
    delete: db.prepare('DELETE FROM containers WHERE namespace = ? AND id = ?'),
    any: db.prepare('SELECT 1 FROM containers WHERE namespace = ? LIMIT 1').pluck(),
    roots: db.prepare('SELECT namespace, id, image, snapshotter, snapshot_key FROM containers ORDER BY namespace, id'),
    everyLabel: db.prepare('SELECT namespace, container, key, value FROM container_labels'),
  };

  const toContainer = (row: Row, labels: Record<string, string>, extensions: Record<string, AnyValue>): Container => ({
    id: row.id,
    labels,
    image: row.image,
    runtime: row.runtime_options_type === null || row.runtime_options === null
      ? { name: row.runtime_name }
      : { name: row.runtime_name, options: { typeUrl: row.runtime_options_type, value: row.runtime_options } },
    spec: { typeUrl: row.spec_type, value: row.spec },
    snapshotter: row.snapshotter,
    snapshotKey: row.snapshot_key,
    extensions,
    sandbox: row.sandbox,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  });
  const read = (ns: string, id: string): Container | undefined => {
    const row = s.get.get(ns, id) as Row | undefined;
    if (!row) return undefined;
    const labels = groupBy(s.labels.all(ns, id) as LabelRow[], putLabel).get(id) ?? {};
    const extensions = groupBy(s.extensions.all(ns, id) as ExtensionRow[], putExtension).get(id) ?? {};
    return toContainer(row, labels, extensions);
  };
  const writeMaps = (ns: string, c: ValidShape) => {
    s.clearLabels.run(ns, c.id);
    s.clearExtensions.run(ns, c.id);
    for (const [k, v] of Object.entries(c.labels)) if (v !== '') s.label.run(ns, c.id, k, v);
    for (const [k, v] of Object.entries(c.extensions)) s.extension.run(ns, c.id, k, v.typeUrl, v.value);
  };
  /** The reply: the record as stored, so labels set to '' are not in it. */
  const result = (c: ValidShape, createdAt: Date, updatedAt: Date): Container => ({
    id: c.id,
    labels: stored(c.labels),
    image: c.image,
    runtime: c.runtime.options === undefined ? { name: c.runtime.name } : { name: c.runtime.name, options: c.runtime.options },
    spec: c.spec,
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshotKey,
    extensions: { ...c.extensions },
    sandbox: c.sandbox,
    createdAt,
    updatedAt,
  });

  return {
    kind: 'containers',
    holds: (ns) => s.any.get(ns) !== undefined,

    get(ns, id) {
      const c = read(ns, id);
      if (!c) throw new NotFoundError(`container ${q(id)} in namespace ${q(ns)}`);
      return c;
    },

    list(ns, filters = []) {
      const filter = parseStoreFilters(filters);
      const labels = groupBy(s.allLabels.all(ns) as LabelRow[], putLabel);
      const extensions = groupBy(s.allExtensions.all(ns) as ExtensionRow[], putExtension);
      return (s.list.all(ns) as Row[])
        .map((row) => toContainer(row, labels.get(row.id) ?? {}, extensions.get(row.id) ?? {}))
        .filter((c) => filter.match(adaptContainer(c)));
    },

    create: db.transaction((ns: string, input: ContainerInput) => {
      const c = shapeOf(input);
      validated(c, 'create container');
      if (s.get.get(ns, c.id) !== undefined) throw new AlreadyExistsError(`container ${q(c.id)}`);
      const created = now();
      const at = created.getTime();
      // containerd creates a namespace implicitly when the first object lands in it.
      s.ensureNs.run(ns, at, at);
      s.insert.run(ns, c.id, c.image, c.runtime.name, c.runtime.options?.typeUrl ?? null, c.runtime.options?.value ?? null,
        c.spec.typeUrl, c.spec.value, c.snapshotter, c.snapshotKey, c.sandbox, at, at);
      writeMaps(ns, c);
      return result(c, created, created);
    }),

    update: db.transaction((ns: string, input: ContainerInput, fieldpaths: readonly string[] = []) => {
      if (input.id === '') throw new InvalidArgumentError('must specify a container id');
      const current = read(ns, input.id);
      if (!current) throw new NotFoundError(`container ${q(input.id)}`);
      const given = shapeOf(input);
      const updated = shapeOf(current);
      let paths = fieldpaths;
      if (paths.length === 0) {
        paths = REPLACEABLE;
        // Refused rather than ignored, so that making them mutable one day changes no client's outcome.
        if (updated.snapshotter !== given.snapshotter) throw new InvalidArgumentError('container.Snapshotter field is immutable');
        if (updated.runtime.name !== given.runtime.name) throw new InvalidArgumentError('container.Runtime.Name field is immutable');
      }
      for (const path of paths) {
        if (path.startsWith('labels.')) {
          const key = path.slice('labels.'.length);
          updated.labels[key] = given.labels[key] ?? '';
          continue;
        }
        if (path.startsWith('extensions.')) {
          const key = path.slice('extensions.'.length);
          const ext = given.extensions[key];
          if (ext === undefined) delete updated.extensions[key];
          else updated.extensions[key] = ext;
          continue;
        }
        switch (path) {
          case 'labels':
            updated.labels = { ...given.labels };
            break;
          case 'spec':
            updated.spec = given.spec;
            break;
          case 'extensions':
            updated.extensions = { ...given.extensions };
            break;
          case 'image':
            updated.image = given.image;
            break;
          case 'snapshotkey':
            updated.snapshotKey = given.snapshotKey;
            break;
          default:
            // The runtime, the snapshotter and the sandbox among them: fixed once the container exists.
            throw new InvalidArgumentError(`cannot update ${q(path)} field on ${q(input.id)}`);
        }
      }
      validated(updated, 'update');
      const at = now();
      s.update.run(updated.image, updated.spec.typeUrl, updated.spec.value, updated.snapshotKey, at.getTime(), ns, updated.id);
      writeMaps(ns, updated);
      return result(updated, current.createdAt, at);
    }),

    delete: db.transaction((ns: string, id: string) => {
      if (s.delete.run(ns, id).changes === 0) throw new NotFoundError(`container ${id}`);
    }),

    roots() {
      const labels = new Map<string, Record<string, string>>();
      for (const r of s.everyLabel.all() as (LabelRow & { namespace: string })[]) {
        const id = `${r.namespace}\0${r.container}`;
        let m = labels.get(id);
        if (!m) labels.set(id, (m = {}));
        m[r.key] = r.value;
      }
      return (s.roots.all() as { namespace: string; id: string; image: string; snapshotter: string; snapshot_key: string }[]).map((r) => ({
        namespace: r.namespace,
        id: r.id,
        image: r.image,
        snapshotter: r.snapshotter,
        snapshotKey: r.snapshot_key,
        labels: labels.get(`${r.namespace}\0${r.id}`) ?? {},
      }));
    },
  };
}
