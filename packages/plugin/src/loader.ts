import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { FailedPreconditionError, NotFoundError, kindOf, grpcCodeOf } from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';
import { pluginUri, type InitContext, type Platform, type Registration } from './registration.js';
import { isSkip } from './skip.js';
import type { PluginType } from './types.js';

/** How one registration ended up after loading: running, skipped with a reason, or failed with an error. */
export interface LoadedPlugin {
  readonly type: PluginType;
  readonly id: string;
  readonly requires: readonly string[];
  readonly platforms: readonly Platform[];
  readonly exports: Readonly<Record<string, string>>;
  readonly capabilities: readonly string[];
  readonly instance?: unknown;
  /** Set when init threw; the gRPC code and message introspection reports. */
  readonly error?: { code: number; message: string };
  readonly skipped?: string;
}

export interface LoadOptions {
  /** Base directories; each plugin gets `<root>/<type>.<id>` and `<state>/<type>.<id>`. */
  root: string;
  state: string;
  log: Logger;
  /** Config sections by plugin URI (`<type>.<id>`), merged over each plugin's defaults. */
  config?: Readonly<Record<string, unknown>>;
  /** Plugin URIs (or ids) the operator disabled; they are skipped with that reason. */
  disabled?: readonly string[];
  /** Other processes' sockets by name, handed to every plugin (InitContext.peers). */
  peers?: Readonly<Record<string, string>>;
}

/**
 * Order registrations so that each comes after every plugin of the types it requires (containerd's rule:
 * requirements name types, not ids). '*' sorts a plugin after all others. A cycle is a programming error.
 */
export function orderByRequires(registrations: readonly Registration[]): Registration[] {
  const seen = new Set<string>();
  const visiting = new Set<string>();
  const out: Registration[] = [];
  const byType = (t: string) => registrations.filter((r) => r.type === t);
  const visit = (r: Registration, path: string[]) => {
    const uri = pluginUri(r);
    if (seen.has(uri)) return;
    if (visiting.has(uri)) throw new FailedPreconditionError(`plugin dependency cycle: ${[...path, uri].join(' -> ')}`);
    visiting.add(uri);
    for (const req of r.requires ?? []) {
      if (req === '*') continue;
      for (const dep of byType(req)) if (dep !== r) visit(dep, [...path, uri]);
    }
    visiting.delete(uri);
    seen.add(uri);
    out.push(r);
  };
  const isLast = (r: Registration) => (r.requires ?? []).includes('*');
  for (const r of registrations) if (!isLast(r)) visit(r, []);
  for (const r of registrations) if (isLast(r)) visit(r, []);
  const uris = new Set<string>();
  for (const r of registrations) {
    const uri = pluginUri(r);
    if (uris.has(uri)) throw new FailedPreconditionError(`plugin ${uri} registered twice`);
    uris.add(uri);
  }
  return out;
}

function merge<C>(defaults: C | undefined, override: unknown): C {
  if (override === undefined) return structuredClone(defaults) as C;
  if (defaults === undefined || typeof defaults !== 'object' || typeof override !== 'object' || override === null) {
    return override as C;
  }
  return { ...structuredClone(defaults), ...(override as object) } as C;
}

/**
 * Load plugins in dependency order. A plugin whose init throws is recorded with its error and the rest go
 * on (containerd keeps serving with a failed plugin); one whose requirement failed is failed too.
 */
export async function loadPlugins(registrations: readonly Registration[], opts: LoadOptions): Promise<LoadedPlugin[]> {
  const loaded = new Map<string, LoadedPlugin>();
  const instances = new Map<string, Map<string, unknown>>();
  const results: LoadedPlugin[] = [];

  for (const r of orderByRequires(registrations)) {
    const uri = pluginUri(r);
    const exports: Record<string, string> = {};
    const capabilities: string[] = [];
    const base = {
      type: r.type,
      id: r.id,
      requires: [...(r.requires ?? [])],
      platforms: [...(r.platforms ?? [])],
      exports,
      capabilities,
    };
    const record = (p: LoadedPlugin) => { loaded.set(uri, p); results.push(p); };

    if (opts.disabled?.some((d) => d === uri || d === r.id)) {
      opts.log.info({ plugin: uri }, 'plugin disabled by config');
      record({ ...base, skipped: 'disabled by config' });
      continue;
    }
    const failedDep = (r.requires ?? []).flatMap((t) =>
      t === '*' ? [] : results.filter((p) => p.type === t && p.error !== undefined).map((p) => pluginUri(p)),
    );
    if (failedDep.length > 0 && !(r.requires ?? []).includes('*')) {
      const error = { code: grpcCodeOf('FailedPrecondition'), message: `required plugins failed: ${failedDep.join(', ')}` };
      opts.log.warn({ plugin: uri, error: error.message }, 'plugin not loaded');
      record({ ...base, error });
      continue;
    }

    const ctx: InitContext<unknown> = {
      root: join(opts.root, uri),
      state: join(opts.state, uri),
      config: merge(r.config, opts.config?.[uri]),
      peers: opts.peers ?? {},
      log: opts.log.child({ plugin: uri }),
      exports,
      capabilities,
      get<T>(type: PluginType, id?: string): T {
        const forType = instances.get(type);
        if (forType === undefined || forType.size === 0) throw new NotFoundError(`no plugin of type ${type} loaded`);
        if (id === undefined) return forType.values().next().value as T;
        if (!forType.has(id)) throw new NotFoundError(`plugin ${type}.${id}`);
        return forType.get(id) as T;
      },
      getAll<T>(type: PluginType): ReadonlyMap<string, T> {
        return (instances.get(type) ?? new Map()) as ReadonlyMap<string, T>;
      },
    };
    try {
      await mkdir(ctx.root, { recursive: true, mode: 0o711 });
      await mkdir(ctx.state, { recursive: true, mode: 0o711 });
      const instance = await r.init(ctx);
      let forType = instances.get(r.type);
      if (!forType) instances.set(r.type, (forType = new Map()));
      forType.set(r.id, instance);
      opts.log.debug({ plugin: uri }, 'plugin loaded');
      record({ ...base, instance });
    } catch (err) {
      if (isSkip(err)) {
        opts.log.info({ plugin: uri, reason: err.message }, 'plugin skipped');
        record({ ...base, skipped: err.message });
        continue;
      }
      const message = err instanceof Error ? err.message : String(err);
      opts.log.error({ plugin: uri, err }, 'plugin failed to load');
      record({ ...base, error: { code: grpcCodeOf(kindOf(err)), message } });
    }
  }
  return results;
}
