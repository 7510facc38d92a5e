import { InvalidArgumentError } from '@flotilla/errdefs';
import { isTable, toPlain, type Table } from './table.js';

/** An operator's external plugin: `[proxy_plugins.NAME]`, as containerd reads it. */
export interface ProxyPluginConfig {
  /** containerd's short kind (`snapshot`, `content`, `sandbox`, `diff`) or a full plugin type string. */
  type: string;
  /** Unix socket path (a `unix://` prefix is accepted). */
  address: string;
  platform?: string;
  capabilities: string[];
  exports: Record<string, string>;
}

/** The settings Flotilla acts on, read from a (migrated) version 3 configuration. */
export interface Config {
  version: number;
  root: string;
  state: string;
  grpc: { address: string; uid: number; gid: number };
  debug: { level: string };
  /** Plugin URIs (`io.containerd.snapshotter.v1.blockfile`) or ids that must not run. */
  disabledPlugins: string[];
  proxyPlugins: Record<string, ProxyPluginConfig>;
  /** Per-plugin sections keyed by plugin URI, handed to the plugin that owns each. */
  plugins: Record<string, unknown>;
}

export const DEFAULT_CONFIG_PATH = '/etc/flotilla/config.toml';

export function defaultConfig(): Config {
  return {
    version: 3,
    root: '/var/lib/flotilla',
    state: '/run/flotilla',
    grpc: { address: '/run/flotilla/flotilla.sock', uid: 0, gid: 0 },
    debug: { level: 'info' },
    disabledPlugins: [],
    proxyPlugins: {},
    plugins: {},
  };
}

function str(t: Table, key: string, where: string, fallback: string): string {
  const v = t[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'string') throw new InvalidArgumentError(`${where}${key}: expected a string`);
  return v;
}

function int(t: Table, key: string, where: string, fallback: number): number {
  const v = t[key];
  if (v === undefined) return fallback;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new InvalidArgumentError(`${where}${key}: expected an integer`);
  return v;
}

function strings(t: Table, key: string, where: string): string[] {
  const v = t[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new InvalidArgumentError(`${where}${key}: expected a list of strings`);
  return v as string[];
}

function table(t: Table, key: string, where: string): Table {
  const v = t[key];
  if (v === undefined) return {};
  if (!isTable(v)) throw new InvalidArgumentError(`${where}${key}: expected a table`);
  return v;
}

/**
 * The typed settings of a version 3 document; empty values fall back to the defaults, as they do in
 * containerd (an empty `root` is no root).
 */
export function configFromDocument(doc: Table): Config {
  const cfg = defaultConfig();
  cfg.root = str(doc, 'root', '', '') || cfg.root;
  cfg.state = str(doc, 'state', '', '') || cfg.state;
  const grpc = table(doc, 'grpc', '');
  cfg.grpc = {
    address: str(grpc, 'address', 'grpc.', '') || cfg.grpc.address,
    uid: int(grpc, 'uid', 'grpc.', 0),
    gid: int(grpc, 'gid', 'grpc.', 0),
  };
  const debug = table(doc, 'debug', '');
  cfg.debug = { level: str(debug, 'level', 'debug.', '') || cfg.debug.level };
  cfg.disabledPlugins = strings(doc, 'disabled_plugins', '');
  for (const [name, raw] of Object.entries(table(doc, 'proxy_plugins', ''))) {
    const where = `proxy_plugins.${name}.`;
    if (!isTable(raw)) throw new InvalidArgumentError(`proxy_plugins.${name}: expected a table`);
    const exports: Record<string, string> = {};
    for (const [k, v] of Object.entries(table(raw, 'exports', where))) exports[k] = String(v);
    const p: ProxyPluginConfig = {
      type: str(raw, 'type', where, ''),
      address: str(raw, 'address', where, ''),
      capabilities: strings(raw, 'capabilities', where),
      exports,
    };
    const platform = str(raw, 'platform', where, '');
    if (platform) p.platform = platform;
    if (!p.type) throw new InvalidArgumentError(`${where}type must be set`);
    if (!p.address) throw new InvalidArgumentError(`${where}address must be set`);
    cfg.proxyPlugins[name] = p;
  }
  cfg.plugins = toPlain(table(doc, 'plugins', ''));
  return cfg;
}
