import { parse, TomlError } from 'smol-toml';
import { InvalidArgumentError } from '@flotilla/errdefs';
import type { Table } from './table.js';

/**
 * Parse TOML text. A syntax error names the file, line and column, as containerd's does; integers come back
 * as bigints so a float that happens to be whole (`pause_threshold = 1.0`) is written back as a float.
 */
export function parseToml(text: string, file: string): Table {
  try {
    return parse(text, { integersAsBigInt: true }) as Table;
  } catch (err) {
    if (err instanceof TomlError) {
      throw new InvalidArgumentError(`${file}:${err.line}:${err.column}: ${err.message.split('\n')[0]}`, { cause: err });
    }
    throw err;
  }
}

export interface Position {
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

/** Split a TOML key (`a."b.c".d`) into its parts; undefined if it is not one. */
function splitKey(s: string): string[] | undefined {
  const parts: string[] = [];
  let i = 0;
  const skip = () => { while (s[i] === ' ' || s[i] === '\t') i++; };
  for (;;) {
    skip();
    if (s[i] === '"' || s[i] === "'") {
      const q = s[i]!;
      let j = i + 1;
      let out = '';
      while (j < s.length && s[j] !== q) {
        if (q === '"' && s[j] === '\\') {
          const e = s[j + 1];
          out += e === 'n' ? '\n' : e === 't' ? '\t' : e ?? '';
          j += 2;
        } else out += s[j++];
      }
      if (j >= s.length) return undefined;
      parts.push(out);
      i = j + 1;
    } else {
      const m = /^[A-Za-z0-9_-]+/.exec(s.slice(i));
      if (!m) return undefined;
      parts.push(m[0]);
      i += m[0].length;
    }
    skip();
    if (i >= s.length) return parts;
    if (s[i] !== '.') return undefined;
    i++;
  }
}

const startsWith = (a: readonly string[], prefix: readonly string[]) => prefix.every((p, i) => a[i] === p);

/**
 * Where a key is written in TOML text, for reports: the first `[table]` header or `key =` line whose full
 * path is `path` or lies under it. A line scanner, not a parser (the text already parsed): enough to point
 * an operator at the line, and undefined when it cannot tell.
 */
export function locateKey(text: string, path: readonly string[]): Position | undefined {
  let table: string[] = [];
  let inMultiline: string | undefined;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!;
    if (inMultiline) {
      if (raw.includes(inMultiline)) inMultiline = undefined;
      continue;
    }
    const indent = raw.length - raw.trimStart().length;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[\[?([^\]]+)\]\]?/.exec(line);
    if (header) {
      const parts = splitKey(header[1]!);
      if (parts === undefined) continue;
      table = parts;
      if (startsWith(table, path)) return { line: n + 1, column: indent + 1 };
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = splitKey(line.slice(0, eq));
    if (key !== undefined && startsWith([...table, ...key], path)) return { line: n + 1, column: indent + 1 };
    const rest = line.slice(eq + 1).trim();
    for (const q of ['"""', "'''"]) {
      if (rest.startsWith(q) && !rest.slice(3).includes(q)) inMultiline = q;
    }
  }
  return undefined;
}
