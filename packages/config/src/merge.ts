import { cloneValue, isTable, isZero, sameValue, type Table } from './table.js';
import { pluginSections } from './sections.js';

/** Tables whose entries an imported file replaces whole, one entry at a time. */
const replacedPerEntry = ['plugins', 'proxy_plugins', 'timeouts', 'stream_processors'];

/**
 * Merge one file into what the files before it gave, by containerd's rules for `imports`: a plugin section
 * (or proxy plugin, timeout, stream processor) replaces the earlier one whole; lists gain the entries they
 * lacked; other tables merge key by key; a value replaces the earlier one unless it is empty (Go's zero
 * value, which containerd cannot tell from "not set").
 */
export function mergeDocument(into: Table, from: Table, top = true): void {
  for (const [k, v] of Object.entries(from)) {
    const cur = into[k];
    if (top && replacedPerEntry.includes(k) && isTable(v)) {
      const target = isTable(cur) ? cur : (into[k] = {});
      for (const [name, entry] of Object.entries(v)) target[name] = cloneValue(entry);
    } else if (Array.isArray(v)) {
      const list = Array.isArray(cur) ? cur : (into[k] = []);
      for (const x of v) if (!(list as unknown[]).some((y) => sameValue(x, y))) (list as unknown[]).push(cloneValue(x));
    } else if (isTable(v)) {
      mergeDocument(isTable(cur) ? cur : (into[k] = {}), v, false);
    } else if (cur === undefined || !isZero(v)) {
      into[k] = v;
    }
  }
}

/**
 * The configuration Flotilla runs with: `doc` over every default. A plugin section takes its defaults key by
 * key, as each plugin overlays its section on its defaults; a section the file writes under an alias
 * (containerd's metadata plugin name) takes them there, so the file's own name for it is what shows.
 */
export function withDefaults(doc: Table, defaults: Table): Table {
  const out = cloneValue(defaults);
  const outPlugins = isTable(out['plugins']) ? out['plugins'] : (out['plugins'] = {});
  for (const [k, v] of Object.entries(doc)) {
    if (k === 'plugins' && isTable(v)) {
      for (const [uri, section] of Object.entries(v)) {
        const spec = pluginSections.find((s) => s.aliases?.includes(uri));
        const base = spec !== undefined && v[spec.uri] === undefined ? outPlugins[spec.uri] : outPlugins[uri];
        if (spec !== undefined && v[spec.uri] === undefined) delete outPlugins[spec.uri];
        outPlugins[uri] = isTable(base) && isTable(section) ? { ...base, ...cloneValue(section) } : cloneValue(section);
      }
    } else if (isTable(v) && isTable(out[k])) {
      out[k] = { ...(out[k] as Table), ...cloneValue(v) };
    } else {
      out[k] = cloneValue(v);
    }
  }
  return out;
}
