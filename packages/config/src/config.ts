import { readFile } from 'node:fs/promises';
import { parse, TomlError } from 'smol-toml';
import { InvalidArgumentError, FailedPreconditionError, NotFoundError } from '@flotilla/errdefs';

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

/** The settings Flotilla acts on, from a containerd-format (version 3) config.toml. */
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

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

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

/** Parse config text. Syntax errors name the file, line and column. */
export function parseConfig(text: string, file = 'config.toml'): Config {
  let doc: Table;
  try {
    doc = parse(text) as Table;
  } catch (err) {
    if (err instanceof TomlError) {
      throw new InvalidArgumentError(`${file}:${err.line}:${err.column}: ${err.message.split('\n')[0]}`, { cause: err });
    }
    throw err;
  }
  const version = int(doc, 'version', '', 1);
  if (version !== 3) {
    throw new FailedPreconditionError(`${file}: config version ${version} is not read yet; write a version 3 config`);
  }
  const cfg = defaultConfig();
  cfg.version = version;
  cfg.root = str(doc, 'root', '', cfg.root);
  cfg.state = str(doc, 'state', '', cfg.state);
  const grpc = isTable(doc['grpc']) ? doc['grpc'] : {};
  cfg.grpc = {
    address: str(grpc, 'address', 'grpc.', cfg.grpc.address),
    uid: int(grpc, 'uid', 'grpc.', 0),
    gid: int(grpc, 'gid', 'grpc.', 0),
  };
  const debug = isTable(doc['debug']) ? doc['debug'] : {};
  cfg.debug = { level: str(debug, 'level', 'debug.', cfg.debug.level) || 'info' };
  cfg.disabledPlugins = strings(doc, 'disabled_plugins', '');
  const proxies = doc['proxy_plugins'];
  if (proxies !== undefined) {
    if (!isTable(proxies)) throw new InvalidArgumentError(`${file}: proxy_plugins must be a table`);
    for (const [name, raw] of Object.entries(proxies)) {
      if (!isTable(raw)) throw new InvalidArgumentError(`${file}: proxy_plugins.${name} must be a table`);
      const where = `proxy_plugins.${name}.`;
      const exportsRaw = raw['exports'];
      const exports: Record<string, string> = {};
      if (exportsRaw !== undefined) {
        if (!isTable(exportsRaw)) throw new InvalidArgumentError(`${where}exports: expected a table`);
        for (const [k, v] of Object.entries(exportsRaw)) exports[k] = String(v);
      }
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
  }
  const plugins = doc['plugins'];
  if (plugins !== undefined) {
    if (!isTable(plugins)) throw new InvalidArgumentError(`${file}: plugins must be a table`);
    cfg.plugins = plugins;
  }
  return cfg;
}

/**
 * Load a config file. The default path may be absent (defaults apply, as in containerd); a path the
 * operator named must exist.
 */
export async function loadConfig(path: string | undefined): Promise<Config> {
  const file = path ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      if (path === undefined) return defaultConfig();
      throw new NotFoundError(`config file ${file}`);
    }
    throw err;
  }
  return parseConfig(text, file);
}
