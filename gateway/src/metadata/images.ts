import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from '@flotilla/errdefs';
import type { Adaptor } from '@flotilla/filters';
import { ABSENT, checkMap, parseStoreFilters, scalar } from './adaptors.js';
import type { Db } from './db.js';
import { validateLabels } from './labels.js';
import type { NamespaceHolder } from './namespaces.js';

/**
 * An image record: a name pointing at a target descriptor (an index or manifest in content), with labels.
 * Only metadata lives here; the blobs the target refers to live in the content store, kept alive by
 * garbage collection through this record.
 */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface Image {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly target: Descriptor;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** What a client gives to create or update an image: the timestamps are the store's. */
export interface ImageInput {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly target?: Partial<Descriptor>;
}

export interface ImageStoreOptions {
  /** Clock, for tests. */
  now?: () => Date;
}

export interface ImageStore extends NamespaceHolder {
  get(namespace: string, name: string): Image;
  /** Images in name order (bytewise, as containerd's bolt buckets iterate) matching any of `filters`. */
  list(namespace: string, filters?: readonly string[]): Image[];
  /** `createdAt` stands for the client's SOURCE_DATE_EPOCH, when it sent one. */
  create(namespace: string, image: ImageInput, opts?: { createdAt?: Date }): Image;
  /**
   * Update by field paths (`labels`, `labels.<k>`, `annotations`, `annotations.<k>`, `target`), or
   * replace the whole record (keeping its creation time) when none are given.
   */
  update(namespace: string, image: ImageInput, fieldpaths?: readonly string[], opts?: { updatedAt?: Date }): Image;
  /** With `target`, delete only while the image still points at that digest. */
  delete(namespace: string, name: string, opts?: { target?: { digest: string } }): void;
  /** Every image's target, in every namespace: roots for garbage collection. */
  targets(): Iterable<{ namespace: string; digest: string }>;
  /**
   * Every image with its labels, in every namespace. containerd's collector also follows an image's
   * `containerd.io/gc.ref.*` labels and treats images labelled `containerd.io/gc.expire` as expiring.
   */
  roots(): Iterable<{ namespace: string; name: string; digest: string; labels: Readonly<Record<string, string>> }>;
}

// go-digest v1.0.0 (what containerd 1.6 and 2.0 build with): the algorithms containerd links in, and
// the hex length each requires.
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/** go-digest's Digest.Validate: the reason a digest is invalid, or undefined when it is valid. */
export function digestError(d: string): string | undefined {
  const i = d.indexOf(':');
  if (i <= 0 || i + 1 === d.length) return 'invalid checksum digest format';
  const length = HEX_LENGTH[d.slice(0, i)];
  if (length === undefined) return DIGEST.test(d) ? 'unsupported digest algorithm' : 'invalid checksum digest format';
  const encoded = d.slice(i + 1);
  if (Buffer.byteLength(encoded) !== length) return 'invalid checksum digest length';
  return /^[a-f0-9]+$/.test(encoded) ? undefined : 'invalid checksum digest format';
}

/** Go's %q for the strings we quote in messages (JSON's escaping agrees for printable text). */
const q = (s: string) => JSON.stringify(s);

/** containerd's validateImage: name, labels, then the target fields it stores. */
function validateImage(image: ImageShape): void {
  if (image.name === '') throw new InvalidArgumentError('image name must not be empty');
  try {
    // A label set to '' is a removal (it is never stored), so only its size can be wrong.
    validateLabels(Object.fromEntries(Object.entries(image.labels).filter(([k, v]) => k !== '' || v !== '')));
  } catch (err) {
    throw new InvalidArgumentError(`image.Labels: ${(err as Error).message}`, { cause: err });
  }
  const t = image.target;
  const bad = digestError(t.digest);
  if (bad !== undefined) throw new InvalidArgumentError(`Target.Digest ${q(t.digest)} invalid: ${bad}`);
  if (!(t.size > 0)) throw new InvalidArgumentError('Target.Size must be greater than zero');
  if (t.mediaType === '') throw new InvalidArgumentError('Target.MediaType must be set');
  for (const [k, v] of Object.entries(t.annotations)) {
    // containerd has bolt refuse an empty key (an Unknown error); refuse it as the bad argument it is.
    if (k === '' && v !== '') throw new InvalidArgumentError('image target annotation key must not be empty');
  }
}

/** An image being assembled, before it is validated and stored. */
interface ImageShape {
  name: string;
  labels: Record<string, string>;
  target: { mediaType: string; digest: string; size: number; annotations: Record<string, string> };
}

function shapeOf(image: ImageInput): ImageShape {
  const t = image.target ?? {};
  return {
    name: image.name,
    labels: { ...image.labels },
    target: { mediaType: t.mediaType ?? '', digest: t.digest ?? '', size: t.size ?? 0, annotations: { ...t.annotations } },
  };
}

/** Writing a map drops entries set to '', as containerd's boltutil.writeMap does (and so does the reply). */
const stored = (m: Readonly<Record<string, string>>) => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== ''));

/** containerd's adaptImage: the fields an image filter can name. */
function adaptImage(image: Image): Adaptor {
  return {
    field(fieldpath) {
      const [head, ...rest] = fieldpath;
      switch (head) {
        case 'name':
          return scalar(image.name);
        case 'target':
          if (rest[0] === 'digest') return scalar(image.target.digest);
          if (rest[0] === 'mediatype') return scalar(image.target.mediaType);
          return ABSENT;
        case 'labels':
          return checkMap(rest, image.labels);
        case 'annotations':
          return checkMap(rest, image.target.annotations);
        default:
          return ABSENT;
      }
    },
  };
}

interface Row {
  namespace: string;
  name: string;
  media_type: string;
  digest: string;
  size: number;
  created_at: number;
  updated_at: number;
}

interface KV {
  image: string;
  key: string;
  value: string;
}

/**
 * containerd's image store (core/metadata/images.go) over SQLite. Every method works within one
 * namespace; creating an image creates its namespace, which it then holds open.
 */
export function createImageStore(db: Db, opts: ImageStoreOptions = {}): ImageStore {
  const now = opts.now ?? (() => new Date());
  const cols = 'namespace, name, media_type, digest, size, created_at, updated_at';
  const s = {
    ensureNs: db.prepare('INSERT OR IGNORE INTO namespaces (name, created_at, updated_at) VALUES (?, ?, ?)'),
    get: db.prepare(`SELECT ${cols} FROM images WHERE namespace = ? AND name = ?`),
    list: db.prepare(`SELECT ${cols} FROM images WHERE namespace = ? ORDER BY name`),
    labels: db.prepare('SELECT key, value FROM image_labels WHERE namespace = ? AND image = ?'),
    annotations: db.prepare('SELECT key, value FROM image_annotations WHERE namespace = ? AND image = ?'),
    allLabels: db.prepare('SELECT image, key, value FROM image_labels WHERE namespace = ?'),
    allAnnotations: db.prepare('SELECT image, key, value FROM image_annotations WHERE namespace = ?'),
    insert: db.prepare(`INSERT INTO images (${cols}) VALUES (?, ?, ?, ?, ?, ?, ?)`),
    update: db.prepare('UPDATE images SET media_type = ?, digest = ?, size = ?, updated_at = ? WHERE namespace = ? AND name = ?'),
    clearLabels: db.prepare('DELETE FROM image_labels WHERE namespace = ? AND image = ?'),
    clearAnnotations: db.prepare('DELETE FROM image_annotations WHERE namespace = ? AND image = ?'),
    label: db.prepare('INSERT INTO image_labels (namespace, image, key, value) VALUES (?, ?, ?, ?)'),
    annotation: db.prepare('INSERT INTO image_annotations (namespace, image, key, value) VALUES (?, ?, ?, ?)'),
    delete: db.prepare('DELETE FROM images WHERE namespace = ? AND name = ?'),
    any: db.prepare('SELECT 1 FROM images WHERE namespace = ? LIMIT 1').pluck(),
    targets: db.prepare('SELECT namespace, digest FROM images ORDER BY namespace, name'),
    roots: db.prepare('SELECT namespace, name, digest FROM images ORDER BY namespace, name'),
    everyLabel: db.prepare('SELECT namespace, image, key, value FROM image_labels'),
  };

  const mapOf = (rows: readonly { key: string; value: string }[]) => {
    const out: Record<string, string> = {};
    for (const r of rows) out[r.key] = r.value;
    return out;
  };
  const groupBy = (rows: readonly KV[]) => {
    const out = new Map<string, Record<string, string>>();
    for (const r of rows) {
      let m = out.get(r.image);
      if (!m) out.set(r.image, (m = {}));
      m[r.key] = r.value;
    }
    return out;
  };
  const toImage = (row: Row, labels: Record<string, string>, annotations: Record<string, string>): Image => ({
    name: row.name,
    labels,
    target: { mediaType: row.media_type, digest: row.digest, size: row.size, annotations },
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  });
  const read = (ns: string, name: string): Image | undefined => {
    const row = s.get.get(ns, name) as Row | undefined;
    if (!row) return undefined;
    return toImage(row, mapOf(s.labels.all(ns, name) as KV[]), mapOf(s.annotations.all(ns, name) as KV[]));
  };
  const writeMaps = (ns: string, image: ImageShape) => {
    s.clearLabels.run(ns, image.name);
    s.clearAnnotations.run(ns, image.name);
    for (const [k, v] of Object.entries(image.labels)) if (v !== '') s.label.run(ns, image.name, k, v);
    for (const [k, v] of Object.entries(image.target.annotations)) if (v !== '') s.annotation.run(ns, image.name, k, v);
  };
  const result = (image: ImageShape, createdAt: Date, updatedAt: Date): Image => ({
    name: image.name,
    labels: stored(image.labels),
    target: { ...image.target, annotations: stored(image.target.annotations) },
    createdAt,
    updatedAt,
  });

  return {
    kind: 'images',
    holds: (ns) => s.any.get(ns) !== undefined,

    get(ns, name) {
      const image = read(ns, name);
      if (!image) throw new NotFoundError(`image ${q(name)}`);
      return image;
    },

    list(ns, filters = []) {
      const filter = parseStoreFilters(filters);
      const labels = groupBy(s.allLabels.all(ns) as KV[]);
      const annotations = groupBy(s.allAnnotations.all(ns) as KV[]);
      return (s.list.all(ns) as Row[])
        .map((row) => toImage(row, labels.get(row.name) ?? {}, annotations.get(row.name) ?? {}))
        .filter((image) => filter.match(adaptImage(image)));
    },

    create: db.transaction((ns: string, input: ImageInput, o?: { createdAt?: Date }) => {
      const image = shapeOf(input);
      validateImage(image);
      if (s.get.get(ns, image.name) !== undefined) throw new AlreadyExistsError(`image ${q(image.name)}`);
      const created = o?.createdAt ?? now();
      const at = created.getTime();
      // containerd creates a namespace implicitly when the first object lands in it.
      s.ensureNs.run(ns, at, at);
      s.insert.run(ns, image.name, image.target.mediaType, image.target.digest, image.target.size, at, at);
      writeMaps(ns, image);
      return result(image, created, created);
    }),

    update: db.transaction((ns: string, input: ImageInput, fieldpaths: readonly string[] = [], o?: { updatedAt?: Date }) => {
      if (input.name === '') throw new InvalidArgumentError('image name is required for update');
      const current = read(ns, input.name);
      if (!current) throw new NotFoundError(`image ${q(input.name)}`);
      const given = shapeOf(input);
      let updated: ImageShape;
      if (fieldpaths.length > 0) {
        updated = {
          name: input.name,
          labels: { ...current.labels },
          target: { ...current.target, annotations: { ...current.target.annotations } },
        };
        for (const path of fieldpaths) {
          if (path.startsWith('labels.')) {
            const key = path.slice('labels.'.length);
            updated.labels[key] = given.labels[key] ?? '';
            continue;
          }
          if (path.startsWith('annotations.')) {
            const key = path.slice('annotations.'.length);
            updated.target.annotations[key] = given.target.annotations[key] ?? '';
            continue;
          }
          switch (path) {
            case 'labels':
              updated.labels = { ...given.labels };
              break;
            case 'target':
              // As in containerd, the target is replaced as a unit (annotations included).
              updated.target = { ...given.target, annotations: { ...given.target.annotations } };
              break;
            case 'annotations':
              updated.target.annotations = { ...given.target.annotations };
              break;
            default:
              throw new InvalidArgumentError(`cannot update ${q(path)} field on image ${q(input.name)}`);
          }
        }
      } else {
        updated = given;
      }
      validateImage(updated);
      const at = o?.updatedAt ?? now();
      s.update.run(updated.target.mediaType, updated.target.digest, updated.target.size, at.getTime(), ns, updated.name);
      writeMaps(ns, updated);
      return result(updated, current.createdAt, at);
    }),

    delete: db.transaction((ns: string, name: string, o?: { target?: { digest: string } }) => {
      const row = s.get.get(ns, name) as Row | undefined;
      if (!row) throw new NotFoundError(`image ${q(name)}`);
      const want = o?.target?.digest ?? '';
      if (want !== '' && row.digest !== want) {
        // containerd answers a stale target with NotFound: the image it named is gone.
        throw new NotFoundError(`image ${q(name)} has target ${row.digest}, not ${want}`);
      }
      s.delete.run(ns, name);
    }),

    targets() {
      return s.targets.all() as { namespace: string; digest: string }[];
    },

    roots() {
      const labels = new Map<string, Record<string, string>>();
      for (const r of s.everyLabel.all() as (KV & { namespace: string })[]) {
        const id = `${r.namespace}\0${r.image}`;
        let m = labels.get(id);
        if (!m) labels.set(id, (m = {}));
        m[r.key] = r.value;
      }
      return (s.roots.all() as { namespace: string; name: string; digest: string }[]).map((r) => ({
        ...r,
        labels: labels.get(`${r.namespace}\0${r.name}`) ?? {},
      }));
    },
  };
}
