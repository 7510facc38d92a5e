/**
 * A TOML document as smol-toml gives it: tables are plain objects, integers are bigints (so that `1` and
 * `1.0` stay apart on the way back out), floats are numbers, dates are Date objects.
 */
export type Table = Record<string, unknown>;

export function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** A deep copy that keeps bigints and date objects as they are (structuredClone would turn a TomlDate into a Date). */
export function cloneValue<T>(v: T): T {
  if (Array.isArray(v)) return v.map(cloneValue) as T;
  if (isTable(v)) {
    const out: Table = {};
    for (const [k, x] of Object.entries(v)) out[k] = cloneValue(x);
    return out as T;
  }
  return v;
}

export function getPath(t: Table, path: readonly string[]): unknown {
  let cur: unknown = t;
  for (const k of path) {
    if (!isTable(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

/** The table at `path`, created (with every table on the way) if missing; undefined if a non-table is in the way. */
export function tableAt(t: Table, path: readonly string[]): Table | undefined {
  let cur = t;
  for (const k of path) {
    const next = cur[k];
    if (next === undefined) cur = cur[k] = {};
    else if (isTable(next)) cur = next;
    else return undefined;
  }
  return cur;
}

export function setPath(t: Table, path: readonly string[], value: unknown): void {
  const parent = tableAt(t, path.slice(0, -1));
  if (parent === undefined) throw new TypeError(`${formatKey(path.slice(0, -1))} is not a table`);
  parent[path[path.length - 1]!] = value;
}

/** Delete the key at `path`, then every table on the way that it left empty. */
export function deletePath(t: Table, path: readonly string[], pruneUpTo = 0): void {
  const parents: Table[] = [t];
  for (const k of path.slice(0, -1)) {
    const next = parents[parents.length - 1]![k];
    if (!isTable(next)) return;
    parents.push(next);
  }
  delete parents[parents.length - 1]![path[path.length - 1]!];
  for (let i = parents.length - 1; i > pruneUpTo; i--) {
    if (Object.keys(parents[i]!).length > 0) break;
    delete parents[i - 1]![path[i - 1]!];
  }
}

/** A key path as TOML writes it: `plugins."io.containerd.grpc.v1.cri".registry`. */
export function formatKey(path: readonly string[]): string {
  return path.map((k) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k))).join('.');
}

/**
 * Whether a value says nothing beyond Go's zero value: an empty string, zero, false, an empty list, or a
 * table of such values. containerd's own generated configs are full of them, and the legacy properties it
 * ignored when unset are dropped by migration only when they hold nothing.
 */
export function isZero(v: unknown): boolean {
  if (v === undefined || v === '' || v === false || v === 0 || v === 0n) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (isTable(v)) return Object.values(v).every(isZero);
  return false;
}

/** Every leaf of a document (an empty table or list counts as one), with its path. */
export function* leaves(t: Table, prefix: readonly string[] = []): Generator<[string[], unknown]> {
  const entries = Object.entries(t);
  if (entries.length === 0 && prefix.length > 0) yield [[...prefix], t];
  for (const [k, v] of entries) {
    if (isTable(v)) yield* leaves(v, [...prefix, k]);
    else yield [[...prefix, k], v];
  }
}

/** bigints become numbers, for the code that reads settings (plugins, the gateway): none needs 2^53. */
export function toPlain<T>(v: T): T {
  if (typeof v === 'bigint') return Number(v) as T;
  if (Array.isArray(v)) return v.map(toPlain) as T;
  if (isTable(v)) {
    const out: Table = {};
    for (const [k, x] of Object.entries(v)) out[k] = toPlain(x);
    return out as T;
  }
  return v;
}

/** Structural equality over document values. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (isTable(a) && isTable(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && sameValue(a[k], b[k]));
  }
  return false;
}
