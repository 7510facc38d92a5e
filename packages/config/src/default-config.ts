import { cloneValue, type Table } from './table.js';
import { commentKey, formatToml } from './toml-writer.js';
import { pluginSections } from './sections.js';
import { defaultTopLevel, type LoadedConfig } from './load.js';
import { withDefaults } from './merge.js';

/** Every default Flotilla runs with, as a version 3 document. */
export function defaultDocument(): Table {
  const plugins: Table = {};
  for (const s of pluginSections) {
    const section: Table = {};
    for (const [k, spec] of Object.entries(s.keys)) if (!spec.inert) section[k] = cloneValue(spec.default);
    plugins[s.uri] = section;
  }
  return { ...defaultTopLevel(), plugins };
}

function comments(): Map<string, string[]> {
  const c = new Map<string, string[]>([
    [commentKey(['root']), ['Persistent data: metadata, content, snapshots.']],
    [commentKey(['state']), ['Transient data: sockets, mounts; gone at reboot.']],
    [commentKey(['disabled_plugins']), ['Plugin URIs or ids that must not run, e.g. "io.flotilla.process.v1.snapshotter-blockfile" stops that process.']],
    [commentKey(['imports']), ['More files merged over this one, as containerd merges them ("*" allowed in the file name).']],
    [commentKey(['grpc']), ['The containerd API socket.']],
    [commentKey(['plugins']), ['Each plugin\'s settings, by plugin URI. Sections of plugins Flotilla does not have are kept and reported.']],
  ]);
  for (const s of pluginSections) {
    c.set(commentKey(['plugins', s.uri]), [...s.doc]);
    for (const [k, spec] of Object.entries(s.keys)) if (spec.doc) c.set(commentKey(['plugins', s.uri, k]), [...spec.doc]);
  }
  return c;
}

/** `flotilla config default`: the complete default configuration, commented. */
export function renderDefaultConfig(): string {
  const doc = defaultDocument();
  const text = formatToml(doc, {
    header: ['Flotilla\'s default configuration (containerd\'s format, version 3).'],
    comments: comments(),
  });
  // External plugins are the operator's own; show the shape rather than an empty table.
  return `${text}
# External plugins, as containerd loads them:
# [proxy_plugins.stargz]
#   type = "snapshot"
#   address = "/run/containerd-stargz-grpc/containerd-stargz-grpc.sock"
`;
}

/** `flotilla config dump`: the effective configuration, the loaded files over every default. */
export function renderEffectiveConfig(loaded: LoadedConfig): string {
  return formatToml(withDefaults(loaded.document, defaultDocument()), {
    header: [loaded.files.length > 0
      ? `The effective configuration from ${loaded.files.join(', ')} (version ${loaded.sourceVersion}), with every default.`
      : 'The effective configuration: no config file, every default.'],
  });
}

/** `flotilla config migrate`: the migrated files as one version 3 document, defaults left out. */
export function renderMigratedConfig(loaded: LoadedConfig): string {
  return formatToml(loaded.document, {
    header: loaded.sourceVersion < 3
      ? [`Migrated from version ${loaded.sourceVersion} (${loaded.files.join(', ')}) by flotilla config migrate.`]
      : [],
  });
}
