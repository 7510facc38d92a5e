import { isTable, type Table } from './table.js';

export interface WriteOptions {
  /** Comment lines written above a key or table header, keyed by commentKey(path). */
  readonly comments?: ReadonlyMap<string, readonly string[]>;
  /** Comment lines at the top of the file. */
  readonly header?: readonly string[];
}

export const commentKey = (path: readonly string[]): string => path.join('\u0000');

function quote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A key path as TOML writes it, quoting only the parts that need it. */
function keyPath(path: readonly string[]): string {
  return path.map((k) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : quote(k))).join('.');
}

function formatValue(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return quote(v);
    case 'bigint':
    case 'boolean':
      return String(v);
    case 'number':
      if (Number.isNaN(v)) return 'nan';
      if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
      // A number here was a TOML float (integers are bigints): keep it one.
      return Number.isInteger(v) && !String(v).includes('e') ? `${v}.0` : String(v);
    default:
      break;
  }
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return `[${v.map(formatValue).join(', ')}]`;
  if (isTable(v)) {
    const entries = Object.entries(v);
    return entries.length === 0 ? '{}' : `{ ${entries.map(([k, x]) => `${keyPath([k])} = ${formatValue(x)}`).join(', ')} }`;
  }
  throw new TypeError(`cannot write ${typeof v} as TOML`);
}

const isTableArray = (v: unknown): v is Table[] => Array.isArray(v) && v.length > 0 && v.every(isTable);

/**
 * Write a document as TOML in containerd's layout: each table under a header, nested ones indented two
 * spaces a level, an empty table kept as a bare header (it may mean something to its plugin), plain keys
 * before sub-tables so none lands in the wrong table.
 */
export function formatToml(doc: Table, opts: WriteOptions = {}): string {
  const lines: string[] = (opts.header ?? []).map((l) => (l === '' ? '#' : `# ${l}`));
  const comment = (path: readonly string[], indent: string) => {
    for (const l of opts.comments?.get(commentKey(path)) ?? []) lines.push(l === '' ? `${indent}#` : `${indent}# ${l}`);
  };
  const pad = (n: number) => ' '.repeat(Math.max(0, n) * 2);

  const body = (t: Table, path: readonly string[]) => {
    const indent = pad(path.length);
    for (const [k, v] of Object.entries(t)) {
      if (isTable(v) || isTableArray(v)) continue;
      comment([...path, k], indent);
      lines.push(`${indent}${keyPath([k])} = ${formatValue(v)}`);
    }
    for (const [k, v] of Object.entries(t)) {
      if (isTable(v)) section(v, [...path, k]);
      else if (isTableArray(v)) {
        for (const el of v) {
          lines.push('');
          comment([...path, k], pad(path.length));
          lines.push(`${pad(path.length)}[[${keyPath([...path, k])}]]`);
          body(el, [...path, k]);
        }
      }
    }
  };

  const section = (t: Table, path: readonly string[]) => {
    const entries = Object.values(t);
    const hasPlain = entries.some((v) => !isTable(v) && !isTableArray(v));
    const commented = opts.comments?.has(commentKey(path)) ?? false;
    // A top-level table gets its header even when it only holds tables (`[plugins]`), as containerd writes it.
    if (hasPlain || entries.length === 0 || commented || path.length === 1) {
      if (lines.length > 0) lines.push('');
      comment(path, pad(path.length - 1));
      lines.push(`${pad(path.length - 1)}[${keyPath(path)}]`);
    }
    body(t, path);
  };

  body(doc, []);
  return `${lines.join('\n')}\n`;
}
