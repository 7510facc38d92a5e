import { formatKey, isTable, sameValue, toPlain, type Table } from './table.js';
import { locateKey, type Position } from './toml-text.js';
import { proxyPluginKeys, sectionSpec, streamProcessorKeys, topLevelKeys, type TopLevelSpec } from './sections.js';
import { CRI_GRPC, CRI_IMAGES, CRI_RUNTIME } from './cri-sections.js';
import type { ReportWriter } from './migration-report.js';

/** Where a key is written: in which file, at which line. */
export type Locator = (path: readonly string[]) => (Position & { file: string }) | undefined;

const differs = (value: unknown, dflt: unknown) => !sameValue(toPlain(value), toPlain(dflt));

/**
 * Unknown keys outside the plugin sections, per file and with their line, as containerd 2.0 reports them
 * (a warning: the key is ignored and the daemon starts). containerd's keys that Flotilla does not act on are
 * reported only when set to something other than containerd's default.
 */
export function checkTopLevelKeys(doc: Table, text: string, file: string, r: ReportWriter): void {
  const where = (path: readonly string[]) => ({ file, ...locateKey(text, path) });
  const walk = (t: Table, spec: Readonly<Record<string, TopLevelSpec>>, prefix: readonly string[]) => {
    for (const [k, v] of Object.entries(t)) {
      const key = [...prefix, k];
      const s = spec[k];
      if (s === undefined) {
        r.warn({ kind: 'unknown-key', key, message: 'unknown key; ignored', ...where(key) });
      } else if (s !== 'read' && 'inert' in s) {
        if (differs(v, s.inert)) {
          r.warn({ kind: 'no-effect', key, message: 'containerd\'s setting; Flotilla does not act on it', ...where(key) });
        }
      } else if (s !== 'read' && isTable(v)) {
        walk(v, s as Readonly<Record<string, TopLevelSpec>>, key);
      }
    }
  };
  walk(doc, topLevelKeys, []);
  for (const [table, keys] of [['proxy_plugins', proxyPluginKeys], ['stream_processors', streamProcessorKeys]] as const) {
    const entries = doc[table];
    if (!isTable(entries)) continue;
    for (const [name, entry] of Object.entries(entries)) {
      if (!isTable(entry)) continue;
      for (const k of Object.keys(entry)) {
        if (!keys.includes(k)) r.warn({ kind: 'unknown-key', key: [table, name, k], message: 'unknown key; ignored', ...where([table, name, k]) });
      }
    }
  }
}

/** Why a section no Flotilla plugin reads is kept anyway, for the sections an operator is likely to have. */
function unreadReason(uri: string): string {
  if ([CRI_GRPC, CRI_IMAGES, CRI_RUNTIME].includes(uri)) return 'Flotilla has no CRI plugin yet; the section is kept for it but nothing reads it';
  if (uri === 'io.containerd.snapshotter.v1.aufs') return 'the aufs snapshotter was removed in containerd 2.0 (use overlayfs); the section is kept but nothing reads it';
  if (uri === 'io.containerd.runtime.v1.linux') return 'runtime v1 was removed in containerd 2.0 (use io.containerd.runc.v2); the section is kept but nothing reads it';
  return 'no Flotilla plugin reads this section; it is kept as it is';
}

/**
 * The plugin sections after migration: unknown keys in a section Flotilla reads are reported with the
 * plugin and key (containerd warns the same way when it decodes a plugin's section), and a section of a
 * plugin Flotilla does not have is reported once, kept, never dropped.
 */
export function checkPluginSections(doc: Table, r: ReportWriter, locate: Locator): void {
  const plugins = doc['plugins'];
  if (!isTable(plugins)) return;
  const at = (path: readonly string[]) => locate(path) ?? {};
  for (const [uri, section] of Object.entries(plugins)) {
    const spec = sectionSpec(uri);
    const key = ['plugins', uri];
    if (spec === undefined) {
      r.warn({ kind: 'unread-section', key, plugin: uri, message: unreadReason(uri), ...at(key) });
      continue;
    }
    if (!isTable(section)) continue;
    for (const [k, v] of Object.entries(section)) {
      const ks = spec.keys[k];
      const path = [...key, k];
      if (ks === undefined) {
        r.warn({ kind: 'unknown-key', key: path, plugin: uri, message: `unknown key in the ${uri} section; ignored`, ...at(path) });
      } else if (ks.inert && differs(v, ks.default)) {
        r.warn({ kind: 'no-effect', key: path, plugin: uri, message: `containerd's ${formatKey([k])}; Flotilla's ${spec.uri} does not act on it`, ...at(path) });
      }
    }
  }
}
