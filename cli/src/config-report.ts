import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { FailedPreconditionError } from '@flotilla/errdefs';
import {
  deprecationMessages,
  formatKey,
  type ConfigWarning,
  type DeprecationLog,
  type GeneratedFile,
  type LoadedConfig,
} from '@flotilla/config';
import type { Logger } from '@flotilla/log';

function where(w: Pick<ConfigWarning, 'file' | 'line' | 'column'>): string {
  if (w.file === undefined) return '';
  return w.line !== undefined ? `${w.file}:${w.line}:${w.column ?? 1}: ` : `${w.file}: `;
}

/** A key, and how it was written when migration moved it. */
function keyOf(k: { key: readonly string[]; source?: readonly string[] }): string {
  return k.source ? `${formatKey(k.key)} (written as ${formatKey(k.source)})` : formatKey(k.key);
}

/** The report of a load as lines for a terminal: what moved, what was dropped, warnings, deprecations, files. */
export function describeReport(loaded: LoadedConfig): string[] {
  const { moves, warnings, deprecations, files } = loaded.report;
  const out: string[] = [];
  for (const m of moves) {
    const to = m.toFile !== undefined ? `${m.toFile}${m.to && m.to.length > 0 ? ` (${formatKey(m.to)})` : ''}` : m.to ? formatKey(m.to) : undefined;
    const note = m.note ? ` (${m.note})` : '';
    out.push(to !== undefined ? `moved ${formatKey(m.from)} -> ${to}${note}` : `dropped ${formatKey(m.from)}${note}`);
  }
  for (const w of warnings) out.push(`warning: ${where(w)}${keyOf(w)}: ${w.message}`);
  for (const d of deprecations) out.push(`deprecated: ${where(d)}${keyOf(d)}: ${d.id}: ${deprecationMessages[d.id]}`);
  for (const f of files) out.push(`hosts file: ${f.path}`);
  return out;
}

/**
 * What a load found, in the daemon's log: unknown keys and unread sections as warnings (with file, line
 * and key, as containerd logs them), each deprecated property in effect as a warning under its ID (and
 * into the deprecation log that introspection lists), the migration itself once, and every move at debug.
 */
export function logReport(loaded: LoadedConfig, log: Logger, deprecations: DeprecationLog): void {
  const { moves, warnings, deprecations: notices } = loaded.report;
  for (const w of warnings) {
    log.warn({
      ...(w.file !== undefined ? { file: w.file } : {}),
      ...(w.line !== undefined ? { line: w.line, column: w.column } : {}),
      ...(w.plugin !== undefined ? { plugin: w.plugin } : {}),
      key: formatKey(w.key),
      ...(w.source ? { written: formatKey(w.source) } : {}),
    }, w.kind === 'unknown-key' ? `ignoring unknown key in config: ${w.message}` : w.message);
  }
  if (loaded.sourceVersion < 3) {
    log.warn({ files: loaded.files, version: loaded.sourceVersion }, 'configuration migrated to version 3 in memory; run `flotilla config migrate` to write it');
  }
  for (const m of moves) {
    log.debug({ from: formatKey(m.from), ...(m.to ? { to: m.toFile ?? formatKey(m.to) } : {}), ...(m.note ? { note: m.note } : {}) }, m.to ? 'config property migrated' : 'config property dropped');
  }
  for (const d of notices) {
    deprecations.emit(d.id);
    log.warn({
      id: d.id,
      key: formatKey(d.key),
      ...(d.source ? { written: formatKey(d.source) } : {}),
      ...(d.file !== undefined ? { file: d.file, line: d.line, column: d.column } : {}),
    }, deprecationMessages[d.id]);
  }
}

/**
 * The hosts.toml files the daemon derives at start. They live in a directory of their own under the state
 * directory and are regenerated from the config each time, so the directory is replaced whole: a mirror
 * removed from the config leaves no file behind.
 */
export async function replaceGeneratedFiles(files: readonly GeneratedFile[], dir: string): Promise<void> {
  if (files.length === 0) return;
  const tmp = `${dir}.new-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  for (const f of files) {
    const path = join(tmp, relative(dir, f.path));
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await writeFile(path, f.content, { mode: 0o644 });
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(dirname(dir), { recursive: true, mode: 0o711 });
  await rename(tmp, dir);
}

/**
 * The hosts.toml files `config migrate` writes beside the config: an existing file with other content is
 * the operator's and is never overwritten (the command fails naming it); one already identical is left.
 */
export async function writeNewFiles(files: readonly GeneratedFile[]): Promise<string[]> {
  const conflicts: string[] = [];
  for (const f of files) {
    const existing = await readFile(f.path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (existing !== undefined && existing !== f.content) conflicts.push(f.path);
  }
  if (conflicts.length > 0) {
    throw new FailedPreconditionError(`hosts files already exist with other content: ${conflicts.join(', ')}; move them away or pass --hosts-dir`);
  }
  const written: string[] = [];
  for (const f of files) {
    await mkdir(dirname(f.path), { recursive: true, mode: 0o755 });
    await writeFile(f.path, f.content, { mode: 0o644 });
    written.push(f.path);
  }
  return written;
}
