import type { Logger } from '@flotilla/log';
import type { PluginType } from './types.js';
import type { RpcServer } from '@flotilla/rpc';

/** A platform a plugin supports, as containerd's introspection reports it. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** What a plugin's init is handed. */
export interface InitContext<Config> {
  /** This plugin's private directory for persistent data: ROOT/<type>.<id>. */
  readonly root: string;
  /** This plugin's private directory for runtime state: STATE/<type>.<id>. */
  readonly state: string;
  /** The plugin's config: its defaults overlaid with `[plugins."<type>.<id>"]`. */
  readonly config: Config;
  /**
   * Sockets of the other parts of the cluster, by name ('gateway', 'content', ...), for a plugin that
   * calls another process (the differ reads layers from the content service). The gateway passes them
   * to each process it starts; a process run alone has those given with `--peer NAME=SOCKET`, if any.
   */
  readonly peers: Readonly<Record<string, string>>;
  readonly log: Logger;
  /** Key/value facts about the plugin for introspection (for example a snapshotter's root). */
  readonly exports: Record<string, string>;
  /** Feature names advertised through introspection (for example `rebase`). */
  readonly capabilities: string[];
  /** The instance of a plugin this one requires, by type and id; throws NotFound when it was not loaded. */
  get<T>(type: PluginType, id?: string): T;
  /** Everything that was loaded for a type, by id (skipped or failed plugins are left out). */
  getAll<T>(type: PluginType): ReadonlyMap<string, T>;
}

/** A server the warm-up started on a socket in its scratch directory. */
export interface ScratchServer {
  readonly address: string;
}

/** What a plugin's warm-up is handed (Registration.warmUp). */
export interface WarmUpContext {
  /**
   * An empty directory of the warm-up's own, removed with everything in it afterwards: scratch stores,
   * snapshots and mount points go here, never into the plugin's real root.
   */
  readonly scratch: string;
  readonly log: Logger;
  /**
   * Serve what `register` adds (scratch instances of the plugin's services) on a socket in the scratch
   * directory, so the warm-up can call them through the same client and server code real calls take.
   * The server is closed when the warm-up ends.
   */
  serve(register: (server: RpcServer) => void): Promise<ScratchServer>;
}

/**
 * A plugin, declared: what it is, what it needs and how it starts. The loader orders plugins by `requires`,
 * so init only ever sees dependencies that already exist.
 */
export interface Registration<Config = unknown, Instance = unknown> {
  readonly type: PluginType;
  readonly id: string;
  /** Types this plugin needs loaded first; '*' means every other plugin. */
  readonly requires?: readonly (PluginType | '*')[];
  /** Default configuration; the config file's section is merged over it. */
  readonly config?: Config;
  readonly platforms?: readonly Platform[];
  init(ctx: InitContext<Config>): Instance | Promise<Instance>;
  /**
   * Exercise the plugin's hot paths once, on scratch instances of its own making, after init and before
   * the process serves (warm-up.ts): the first real call then runs compiled code. It must leave nothing
   * behind outside `ctx.scratch` (and nothing mounted in it).
   */
  warmUp?(ctx: WarmUpContext): Promise<void>;
}

/** The id a plugin is known by in config sections and errors. */
export function pluginUri(r: { type: string; id: string }): string {
  return `${r.type}.${r.id}`;
}
