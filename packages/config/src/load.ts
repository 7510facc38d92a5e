import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize } from 'node:path';
import { InvalidArgumentError, NotFoundError, isErrdefs, errorClasses } from '@flotilla/errdefs';
import { setPath, type Table } from './table.js';
import { parseToml, locateKey } from './toml-text.js';
import { configFromDocument, DEFAULT_CONFIG_PATH, defaultConfig, type Config } from './config.js';
import { createReport, type MigrationReport, type ReportWriter } from './migration-report.js';
import { migrateV1PluginNames } from './plugin-names.js';
import { splitCriSection } from './cri-split.js';
import { migrateLegacyCriRuntime } from './cri-legacy.js';
import { migrateRegistry } from './registry-hosts.js';
import { refuseRemovedInConfig } from './removed-in-config.js';
import { checkPluginSections, checkTopLevelKeys, type Locator } from './key-check.js';
import { mergeDocument } from './merge.js';
import { DeprecationId } from './deprecations.js';

/** The version containerd 2.0 writes, and the only one Flotilla runs on (older ones are migrated to it). */
export const CONFIG_VERSION = 3;

export interface LoadOptions {
  /**
   * Directory for the hosts.toml files that registry mirrors migrate to (the images plugin's
   * `config_path`). Default: `<state>/certs.d`, regenerated at each start from the file that names them.
   */
  hostsDir?: string;
  /** Flag values, which win over the file as containerd's flags do. */
  overrides?: { root?: string; state?: string; address?: string; logLevel?: string };
}

export interface LoadedConfig {
  /** The settings the daemon acts on. */
  readonly config: Config;
  /** The migrated and merged version 3 document, without defaults: every setting the files hold. */
  readonly document: Table;
  /** The files read, the named one first, then its imports; none when the default path is absent. */
  readonly files: readonly string[];
  /** The version the named file was written in. */
  readonly sourceVersion: number;
  readonly report: MigrationReport;
}

function versionOf(doc: Table, file: string): number {
  const v = doc['version'];
  if (v === undefined) return 1; // containerd reads a file without a version as version 1
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${file}: version must be an integer`);
  if (n > CONFIG_VERSION) throw new InvalidArgumentError(`${file}: expected config version ${CONFIG_VERSION} or lower, got ${n}`);
  return Math.max(n, 1);
}

/** containerd's `imports`: relative to the importing file, with `*` allowed in the file name. */
function resolveImports(parent: string, doc: Table): string[] {
  const imports = doc['imports'];
  if (imports === undefined) return [];
  if (!Array.isArray(imports) || imports.some((i) => typeof i !== 'string')) throw new InvalidArgumentError(`${parent}: imports must be a list of paths`);
  const out: string[] = [];
  for (const raw of imports as string[]) {
    const path = normalize(isAbsolute(raw) ? raw : join(dirname(parent), raw));
    if (!path.includes('*')) {
      out.push(path);
      continue;
    }
    if (dirname(path).includes('*')) throw new InvalidArgumentError(`${parent}: import ${raw}: a wildcard is only supported in the file name`);
    const re = new RegExp(`^${basename(path).split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    let names: string[] = [];
    try {
      names = readdirSync(dirname(path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    out.push(...names.filter((n) => re.test(n)).sort().map((n) => join(dirname(path), n)));
  }
  return out;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`config file ${file}`);
    throw err;
  }
}

/** An error about the merged configuration, named after the file the operator gave. */
function inFile(file: string, err: unknown): never {
  if (isErrdefs(err) && !err.message.startsWith(`${file}:`)) {
    throw new errorClasses[err.kind](`${file}: ${err.message}`, { cause: err });
  }
  throw err;
}

/**
 * Read a configuration as containerd 2.0 does: each file (the named one, then what it imports) is parsed,
 * checked for unknown keys, and migrated from its version to version 3 in memory; the files are merged;
 * then the properties containerd 2.0 removed are rewritten as their replacements, what it can no longer
 * do is refused, and every plugin section is checked against what Flotilla reads. Nothing is written: the
 * hosts.toml files registry mirrors become are returned in the report for the caller to write.
 */
export function parseConfig(text: string, file = 'config.toml', opts: LoadOptions = {}): LoadedConfig {
  const r = createReport();
  const texts = new Map<string, string>();
  const merged: Table = {};
  const pending = [file];
  let sourceVersion: number | undefined;
  while (pending.length > 0) {
    const f = pending.shift()!;
    if (texts.has(f)) continue;
    const t = f === file ? text : readText(f);
    texts.set(f, t);
    const doc = parseToml(t, f);
    const version = versionOf(doc, f);
    sourceVersion ??= version;
    if (version > sourceVersion) throw new InvalidArgumentError(`${f}: imported config version ${version} is higher than ${file}'s ${sourceVersion}`);
    r.file = f;
    checkTopLevelKeys(doc, t, f, r);
    migrateDocument(doc, version, r);
    pending.push(...resolveImports(f, doc));
    mergeDocument(merged, doc);
  }
  r.file = undefined;
  merged['version'] = BigInt(CONFIG_VERSION);

  const o = opts.overrides ?? {};
  if (o.root) merged['root'] = o.root;
  if (o.state) merged['state'] = o.state;
  if (o.address) setPath(merged, ['grpc', 'address'], o.address);
  if (o.logLevel) setPath(merged, ['debug', 'level'], o.logLevel);

  const locate: Locator = (path) => {
    for (const [f, t] of texts) {
      const p = locateKey(t, path);
      if (p) return { file: f, ...p };
    }
    return undefined;
  };
  let config: Config;
  try {
    config = configFromDocument(merged);
    migrateLegacyCriRuntime(merged, r);
    migrateRegistry(merged, r, opts.hostsDir ?? join(config.state, 'certs.d'));
    refuseRemovedInConfig(merged);
    checkPluginSections(merged, r, locate);
    config = configFromDocument(merged);
  } catch (err) {
    inFile(file, err);
  }
  if (sourceVersion! < CONFIG_VERSION) r.deprecate(DeprecationId.ConfigVersion, ['version']);
  return { config, document: merged, files: [...texts.keys()], sourceVersion: sourceVersion!, report: withSources(r.report, locate) };
}

const startsWith = (a: readonly string[], prefix: readonly string[]) => prefix.length <= a.length && prefix.every((p, i) => a[i] === p);

/** Where a migrated key was written: the moves undone, latest first. */
function traceBack(moves: MigrationReport['moves'], path: readonly string[]): string[] {
  let cur = [...path];
  for (let i = moves.length - 1; i >= 0; i--) {
    const m = moves[i]!;
    if (m.to === undefined || m.toFile !== undefined || m.to.length === 0) continue;
    if (startsWith(cur, m.to)) cur = [...m.from, ...cur.slice(m.to.length)];
  }
  return cur;
}

/** Warnings and deprecations about migrated keys also name the key as written, and its line. */
function withSources(report: MigrationReport, locate: Locator): MigrationReport {
  const origin = (key: readonly string[], file: string | undefined) => {
    const source = traceBack(report.moves, key);
    const moved = source.length !== key.length || source.some((k, i) => k !== key[i]);
    const at = file === undefined ? locate(source) : undefined;
    return { ...(moved ? { source } : {}), ...(at ?? {}) };
  };
  return {
    ...report,
    warnings: report.warnings.map((w) => (w.line !== undefined ? w : { ...w, ...origin(w.key, w.file) })),
    deprecations: report.deprecations.map((d) => ({ ...d, ...origin(d.key, d.file) })),
  };
}

/** One file's own migration, from its version to 3: plugin names (version 1), then the CRI split (version 2). */
function migrateDocument(doc: Table, version: number, r: ReportWriter): void {
  if (version < 2) migrateV1PluginNames(doc, r);
  if (version < 3) splitCriSection(doc, r);
  if (version < CONFIG_VERSION) r.move(['version'], ['version'], `version ${version} migrated to ${CONFIG_VERSION}`);
  doc['version'] = BigInt(CONFIG_VERSION);
}

/**
 * Load a config file. The default path may be absent (defaults apply, as in containerd); a path the
 * operator named must exist.
 */
export async function loadConfig(path: string | undefined, opts: LoadOptions = {}): Promise<LoadedConfig> {
  const file = path ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = readText(file);
  } catch (err) {
    if (path === undefined && err instanceof NotFoundError) return { ...parseConfig(`version = ${CONFIG_VERSION}\n`, file, opts), files: [] };
    throw err;
  }
  return parseConfig(text, file, opts);
}

/** The document of the built-in defaults' top level (plugin sections come from the section specs). */
export function defaultTopLevel(): Table {
  const d = defaultConfig();
  return {
    version: BigInt(CONFIG_VERSION),
    root: d.root,
    state: d.state,
    disabled_plugins: [],
    imports: [],
    grpc: { address: d.grpc.address },
    debug: { level: d.debug.level },
  };
}
