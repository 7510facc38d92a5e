import { readFile, writeFile, mkdir, rename } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  Introspection,
  PluginSchema,
  PluginsResponseSchema,
  PluginInfoResponseSchema,
  ServerResponseSchema,
  type Plugin,
} from '@flotilla/proto/containerd/services/introspection/v1/introspection_pb';
import { PlatformSchema } from '@flotilla/proto/containerd/types/platform_pb';
import { StatusSchema } from '@flotilla/proto/google/rpc/status_pb';
import { NotFoundError, NotImplementedError } from '@flotilla/errdefs';
import { adaptFields, parseAll } from '@flotilla/filters';
import type { Implementation } from '@flotilla/rpc';
import type { Platform } from './registration.js';

/** A plugin as introspection reports it, wherever it runs. */
export interface PluginRecord {
  readonly type: string;
  readonly id: string;
  readonly requires: readonly string[];
  readonly platforms: readonly Platform[];
  readonly exports: Readonly<Record<string, string>>;
  readonly capabilities: readonly string[];
  /** Why the plugin is not usable: a failed init, a skip, or a plugin process that is down. */
  readonly error?: { readonly code: number; readonly message: string };
  /** A skipped plugin reports its reason the way containerd does, as an init error saying "skip plugin". */
  readonly skipped?: string;
}

export interface Deprecation {
  id: string;
  message: string;
  lastOccurrence: Date;
}

export interface IntrospectionSource {
  plugins(): readonly PluginRecord[];
  uuid: string;
  deprecations?(): readonly Deprecation[];
}

/** Status code containerd reports for a skipped plugin (status.Convert of a plain error). */
const UNKNOWN = 2;

export function toProtoPlugin(p: PluginRecord): Plugin {
  const err = p.error ?? (p.skipped !== undefined ? { code: UNKNOWN, message: p.skipped } : undefined);
  return create(PluginSchema, {
    type: p.type,
    id: p.id,
    requires: [...p.requires],
    platforms: p.platforms.map((pl) => create(PlatformSchema, { os: pl.os, architecture: pl.architecture, variant: pl.variant ?? '' })),
    exports: { ...p.exports },
    capabilities: [...p.capabilities],
    initErr: err ? create(StatusSchema, { code: err.code, message: err.message }) : undefined,
  });
}

/** containerd's introspection filters know `type` and `id` only. */
function filterPlugins(plugins: readonly PluginRecord[], filters: readonly string[]): PluginRecord[] {
  const filter = parseAll(...filters);
  return plugins.filter((p) => filter.match(adaptFields({ type: p.type, id: p.id })));
}

/** The current pid namespace's inode, as containerd reports it. */
function pidns(): bigint {
  try {
    return BigInt(statSync('/proc/self/ns/pid').ino);
  } catch {
    return 0n;
  }
}

export function createIntrospectionService(source: IntrospectionSource): Implementation<typeof Introspection> {
  const ns = pidns();
  return {
    async plugins(req) {
      const list = filterPlugins(source.plugins(), req.filters);
      return create(PluginsResponseSchema, { plugins: list.map(toProtoPlugin) });
    },
    async server() {
      return create(ServerResponseSchema, {
        uuid: source.uuid,
        pid: BigInt(process.pid),
        pidns: ns,
        deprecations: (source.deprecations?.() ?? []).map((d) => ({
          id: d.id,
          message: d.message,
          lastOccurrence: timestampFromDate(d.lastOccurrence),
        })),
      });
    },
    async pluginInfo(req) {
      const p = source.plugins().find((x) => x.type === req.type && x.id === req.id);
      if (!p) throw new NotFoundError(`plugin ${req.type}.${req.id}`);
      if (req.options !== undefined) throw new NotImplementedError(`plugin ${req.type}.${req.id} takes no info options`);
      return create(PluginInfoResponseSchema, { plugin: toProtoPlugin(p) });
    },
  };
}

/**
 * A server's identity is stable across restarts: kept in a file under its root, written atomically on
 * first start (containerd keeps it in the introspection plugin's directory the same way).
 */
export async function loadOrCreateUuid(path: string): Promise<string> {
  try {
    const v = (await readFile(path, 'utf8')).trim();
    if (/^[0-9a-f-]{36}$/.test(v)) return v;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = randomUUID();
  await mkdir(dirname(path), { recursive: true, mode: 0o711 });
  await writeFile(`${path}.tmp`, id, { mode: 0o644 });
  await rename(`${path}.tmp`, path);
  return id;
}
