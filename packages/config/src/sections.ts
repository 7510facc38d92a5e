/**
 * The settings Flotilla reads, key by key: what `flotilla config default` prints, what `config dump` fills
 * in, and what unknown keys are measured against. A key Flotilla accepts from containerd without acting on
 * it is `inert`, with containerd's default: setting it to anything else is reported as having no effect.
 */

export interface KeySpec {
  /** The default Flotilla uses; written by `config default`. Absent for inert keys. */
  readonly default?: unknown;
  /** Comment lines for `config default`. */
  readonly doc?: readonly string[];
  /** containerd's key, accepted but not acted on; `default` is then containerd's. */
  readonly inert?: boolean;
}

export interface SectionSpec {
  readonly uri: string;
  readonly doc: readonly string[];
  readonly keys: Readonly<Record<string, KeySpec>>;
  /** Other names of this plugin's section that Flotilla reads the same way (containerd's name for it). */
  readonly aliases?: readonly string[];
  /** Keys whose value is a table of free-form entries. */
  readonly openTables?: readonly string[];
}

/** Every plugin section Flotilla reads today, in the order `config default` writes them. */
export const pluginSections: readonly SectionSpec[] = [
  {
    uri: 'io.flotilla.process.v1',
    doc: ['How the gateway runs its plugin processes (Flotilla\'s own section).'],
    keys: {
      initial_backoff: { default: '100ms', doc: ['First restart delay after a process fails; doubles per consecutive failure.'] },
      max_backoff: { default: '10s' },
      start_timeout: { default: '15s', doc: ['How long a fresh process has to answer health.'] },
      reclaim_idle_memory: {
        default: true,
        doc: [
          'Each process (the gateway too) gives back what a busy period grew once it has been idle for two',
          'seconds: a full garbage collection and malloc_trim, tens of milliseconds. false keeps that memory.',
        ],
      },
      warm_up: {
        default: true,
        doc: [
          'Each plugin process runs its hot paths once on scratch data before it serves, so the first pull',
          'after a start runs compiled code. false starts serving sooner, and the first calls run slower.',
        ],
      },
      external: {
        default: {},
        doc: [
          'Attach to a process you run yourself instead of starting one: <service> = "SOCKET",',
          'e.g. content = "/run/debug/content.sock".',
        ],
      },
    },
    openTables: ['external'],
  },
  {
    uri: 'io.containerd.metadata.v1.sqlite',
    aliases: ['io.containerd.metadata.v1.bolt'],
    doc: [
      'The gateway\'s metadata store (SQLite). containerd\'s section name for its metadata plugin,',
      'io.containerd.metadata.v1.bolt, is read the same way.',
    ],
    keys: {
      content_sharing_policy: {
        default: 'shared',
        doc: [
          '"shared": a namespace may take a blob another namespace holds by naming its digest;',
          '"isolated": it must write the bytes itself.',
        ],
      },
      no_sync: { inert: true, default: false },
    },
  },
  {
    uri: 'io.containerd.gc.v1.scheduler',
    doc: ['Garbage collection: after deletions (a burst is collected once) and on a period.'],
    keys: {
      schedule_delay: { default: '100ms', doc: ['How long after a deletion a collection starts.'] },
      interval: { default: '5m', doc: ['Flotilla\'s: also collect on this period; "0" collects only after deletions.'] },
      pause_threshold: { inert: true, default: 0.02 },
      deletion_threshold: { inert: true, default: 0n },
      mutation_threshold: { inert: true, default: 100n },
      startup_delay: { inert: true, default: '100ms' },
    },
  },
  {
    uri: 'io.containerd.snapshotter.v1.overlayfs',
    doc: ['The overlay snapshotter (the snapshotter-overlay process).'],
    keys: {
      root_path: { default: '', doc: ['Where snapshots live; "" is ROOT/io.containerd.snapshotter.v1.overlayfs.'] },
      upperdir_label: { default: false, doc: ['Report each snapshot\'s upper directory in the containerd.io/snapshot/overlay.upperdir label.'] },
      sync_remove: { default: false, doc: ['Delete a removed snapshot\'s directories in Remove rather than in Cleanup.'] },
      mount_options: { default: [], doc: ['Extra options for every overlay mount.'] },
      slow_chown: { inert: true, default: false },
    },
  },
  {
    uri: 'io.containerd.runtime.v2.task',
    doc: ['The runtime v2 shim manager (the runtime process): how it starts containerd-shim-* shims.'],
    keys: {
      env: { default: [], doc: ['Extra KEY=VALUE environment for every shim (containerd 2.0 reads it from io.containerd.shim.v1.manager).'] },
      sched_core: { default: false, doc: ['Start shims in a core-scheduling group of their own (SCHED_CORE=1).'] },
      ttrpc_address: { default: '', doc: ['Socket shims publish events to; "" is the gateway socket plus ".ttrpc", as containerd\'s.'] },
      publish_binary: { default: '', doc: ['-publish-binary given to shims; "" is bin/flotilla.'] },
      platforms: { inert: true, default: ['linux/amd64'] },
    },
  },
  {
    uri: 'io.containerd.differ.v1.walking',
    doc: ['The walking differ (the transfer process): applies and creates layers.'],
    keys: {
      content_address: {
        default: '',
        doc: ['Socket of the namespaced content service it reads layers from; "" is the gateway\'s.'],
      },
      blobs_address: {
        default: '',
        doc: ['Socket to read blob bytes from once found; "" is the content process when content_address is the gateway.'],
      },
      prefetch_layers: {
        default: true,
        doc: [
          'Inflate gzip layers as the content store commits them, on an idle-priority thread, so that their',
          'Apply only extracts (layers of 64 KiB to 32 MiB, their tar at most 64 MiB, 128 MiB held at most).',
        ],
      },
    },
  },
];

/** The section spec for a plugin URI, by its name or an alias. */
export function sectionSpec(uri: string): SectionSpec | undefined {
  return pluginSections.find((s) => s.uri === uri || s.aliases?.includes(uri));
}

/** A top-level key: read by Flotilla, inert (containerd's, no effect here), or a table of such keys. */
export type TopLevelSpec = 'read' | { readonly inert: unknown } | { readonly [key: string]: TopLevelSpec };

const inert = (d: unknown) => ({ inert: d });

/** containerd 2.0's top-level keys (its Config struct), and which of them Flotilla acts on. */
export const topLevelKeys: Readonly<Record<string, TopLevelSpec>> = {
  version: 'read',
  root: 'read',
  state: 'read',
  imports: 'read',
  disabled_plugins: 'read',
  plugins: 'read',
  proxy_plugins: 'read',
  temp: inert(''),
  plugin_dir: inert(''),
  required_plugins: inert([]),
  oom_score: inert(0n),
  timeouts: inert({}),
  stream_processors: inert({}),
  grpc: {
    address: 'read',
    uid: inert(0n),
    gid: inert(0n),
    tcp_address: inert(''),
    tcp_tls_ca: inert(''),
    tcp_tls_cert: inert(''),
    tcp_tls_key: inert(''),
    tcp_tls_common_name: inert(''),
    max_recv_message_size: inert(16777216n),
    max_send_message_size: inert(16777216n),
  },
  ttrpc: { address: inert(''), uid: inert(0n), gid: inert(0n) },
  debug: { level: 'read', format: inert(''), address: inert(''), uid: inert(0n), gid: inert(0n) },
  metrics: { address: inert(''), grpc_histogram: inert(false) },
  cgroup: { path: inert('') },
};

/** The keys of one `[proxy_plugins.NAME]` and one `[stream_processors.NAME]`. */
export const proxyPluginKeys: readonly string[] = ['type', 'address', 'platform', 'exports', 'capabilities'];
export const streamProcessorKeys: readonly string[] = ['accepts', 'returns', 'path', 'args', 'env'];
