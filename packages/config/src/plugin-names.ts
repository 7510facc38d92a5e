import { isTable, type Table } from './table.js';
import type { ReportWriter } from './migration-report.js';

/**
 * Version 1 files name plugins by their short id (`[plugins.cri]`, `disabled_plugins = ["aufs"]`); version 2
 * uses the full URI. These are the plugins containerd 1.x shipped with configs, by the URI each had.
 */
const v1PluginUris: Readonly<Record<string, string>> = {
  cri: 'io.containerd.grpc.v1.cri',
  cgroups: 'io.containerd.monitor.v1.cgroups',
  linux: 'io.containerd.runtime.v1.linux',
  scheduler: 'io.containerd.gc.v1.scheduler',
  bolt: 'io.containerd.metadata.v1.bolt',
  task: 'io.containerd.runtime.v2.task',
  opt: 'io.containerd.internal.v1.opt',
  restart: 'io.containerd.internal.v1.restart',
  tracing: 'io.containerd.internal.v1.tracing',
  otlp: 'io.containerd.tracing.processor.v1.otlp',
  aufs: 'io.containerd.snapshotter.v1.aufs',
  btrfs: 'io.containerd.snapshotter.v1.btrfs',
  devmapper: 'io.containerd.snapshotter.v1.devmapper',
  native: 'io.containerd.snapshotter.v1.native',
  overlayfs: 'io.containerd.snapshotter.v1.overlayfs',
  zfs: 'io.containerd.snapshotter.v1.zfs',
};

/**
 * The URI a version 1 plugin name stands for, as containerd resolves it: a name with a dot is already a
 * URI; `*-service` names are services; anything else unknown is taken as a gRPC plugin (Windows snapshotters
 * as snapshotters), which containerd warns is a guess.
 */
export function v1PluginUri(name: string): { uri: string; guessed: boolean } {
  if (name.includes('.')) return { uri: name, guessed: false };
  const known = v1PluginUris[name];
  if (known !== undefined) return { uri: known, guessed: false };
  if (name.endsWith('-service')) return { uri: `io.containerd.service.v1.${name}`, guessed: false };
  if (name === 'windows' || name === 'windows-lcow') return { uri: `io.containerd.snapshotter.v1.${name}`, guessed: true };
  return { uri: `io.containerd.grpc.v1.${name}`, guessed: true };
}

/** Version 1 to 2: plugin sections and the disabled and required lists switch to full URIs. */
export function migrateV1PluginNames(doc: Table, r: ReportWriter): void {
  const rename = (name: string, key: readonly string[]) => {
    const { uri, guessed } = v1PluginUri(name);
    if (guessed) {
      r.warn({ kind: 'migration', key, message: `version 1 plugin name ${JSON.stringify(name)} is not one containerd knew; read as ${uri}` });
    }
    return uri;
  };
  const plugins = doc['plugins'];
  if (isTable(plugins)) {
    const renamed: Table = {};
    for (const [name, section] of Object.entries(plugins)) {
      const uri = rename(name, ['plugins', name]);
      if (uri !== name) r.move(['plugins', name], ['plugins', uri], 'version 1 plugin name');
      renamed[uri] = section;
    }
    doc['plugins'] = renamed;
  }
  for (const list of ['disabled_plugins', 'required_plugins']) {
    const v = doc[list];
    if (!Array.isArray(v)) continue;
    doc[list] = v.map((name, i) => {
      if (typeof name !== 'string') return name;
      const uri = rename(name, [list, String(i)]);
      if (uri !== name) r.move([list, String(i)], [list, String(i)], `version 1 plugin name ${name} is ${uri}`);
      return uri;
    });
  }
}
