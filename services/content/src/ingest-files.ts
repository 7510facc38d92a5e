import { createHash } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { NotFoundError } from '@flotilla/errdefs';
import type { FsBatchOp, FsBatchResult } from '@flotilla/native';
import type { Status } from './store.js';

/**
 * An ingest on disk, laid out as containerd's local store lays it out, so one survives a restart and a
 * later writer resumes it: `<root>/ingest/<sha256 hex of ref>/` holding `ref` (the ref itself), `data`
 * (the bytes so far; its size is the offset), `startedat` and `updatedat` (Go's RFC 3339 text) and
 * `total` (decimal, only when the client announced a size).
 */
export const INGEST_FILE = { data: 'data', ref: 'ref', startedAt: 'startedat', updatedAt: 'updatedat', total: 'total' } as const;

/** The path of one of an ingest directory's files. */
export const ingestFile = (path: string, file: keyof typeof INGEST_FILE): string => join(path, INGEST_FILE[file]);

/** The directory of ingest `ref` under the store's root (see INGEST_FILE). */
export function ingestRoot(root: string, ref: string): string {
  // A hash of the ref keeps paths one length whatever the ref holds; it is not the content's digest.
  return join(root, 'ingest', createHash('sha256').update(ref).digest('hex'));
}

export function isNotExist(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * The op that writes a timestamp file so that a reader sees the old time or the new, never half: a
 * temporary opened O_SYNC, then a rename (containerd's writeToCompletion). RFC 3339 in UTC; Go's
 * time.UnmarshalText reads it, and Date reads Go's nanosecond form back.
 */
export function timestampOp(path: string, t: Date): FsBatchOp {
  return { op: 'writeFile', path, tmp: `${path}.tmp`, data: t.toISOString(), mode: 0o666, sync: true };
}

/**
 * The ops that lay out a new ingest's files, all but `data`: its ref, its start and update times, and
 * the size the client announced (when it did).
 */
export function ingestFileOps(path: string, ref: string, now: Date, total: number): FsBatchOp[] {
  const ops: FsBatchOp[] = [
    { op: 'writeFile', path: ingestFile(path, 'ref'), data: ref, mode: 0o666 },
    timestampOp(ingestFile(path, 'startedAt'), now),
    timestampOp(ingestFile(path, 'updatedAt'), now),
  ];
  if (total > 0) ops.push({ op: 'writeFile', path: ingestFile(path, 'total'), data: String(total), mode: 0o666 });
  return ops;
}

/** The first error of a batch, thrown: for batches whose every op must succeed. */
export function throwFirstError(results: readonly FsBatchResult[]): void {
  const failed = results.find((r) => r.error !== undefined);
  if (failed !== undefined) throw failed.error;
}

export async function readTimestampFile(path: string): Promise<Date> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isNotExist(err)) throw new NotFoundError(`${path}: no such file or directory`, { cause: err });
    throw err;
  }
  const t = new Date(text.trim());
  if (Number.isNaN(t.getTime())) throw new Error(`could not parse timestamp file ${path}`);
  return t;
}

/** The announced size, 0 when there is none or the file is unreadable (containerd's store.total). */
export async function readTotal(ingestPath: string): Promise<number> {
  try {
    const n = Number.parseInt(await readFile(ingestFile(ingestPath, 'total'), 'utf8'), 10);
    return Number.isSafeInteger(n) ? n : 0;
  } catch {
    return 0;
  }
}

/**
 * An ingest's status from its files. The offset is the data file's size; the data file's mtime wins over
 * `updatedat`, which is written only when a writer closes. containerd keeps no expected digest on disk,
 * so `expected` is ''.
 */
export async function readIngestStatus(ingestPath: string): Promise<Status> {
  const dataPath = ingestFile(ingestPath, 'data');
  let st;
  try {
    st = await stat(dataPath);
  } catch (err) {
    if (isNotExist(err)) throw new NotFoundError(`stat ${dataPath}: no such file or directory`, { cause: err });
    throw err;
  }
  let ref: string;
  try {
    ref = await readFile(ingestFile(ingestPath, 'ref'), 'utf8');
  } catch (err) {
    if (isNotExist(err)) throw new NotFoundError(`open ${ingestFile(ingestPath, 'ref')}: no such file or directory`, { cause: err });
    throw err;
  }
  const [startedAt, updatedFile, total] = await Promise.all([
    readTimestampFile(ingestFile(ingestPath, 'startedAt')),
    readTimestampFile(ingestFile(ingestPath, 'updatedAt')),
    readTotal(ingestPath),
  ]);
  const updatedAt = st.mtime > updatedFile ? st.mtime : updatedFile;
  return { ref, offset: st.size, total, expected: '', startedAt, updatedAt };
}

/** The files an ingest directory holds (see ingestRoot). */
const INGEST_FILES = Object.values(INGEST_FILE);

/**
 * The ops that remove a committed ingest's directory: its known files, then the directory, each optional
 * (a file it never had is fine). Run them, with whatever else the commit has left, in one batch and hand
 * their results to finishIngestRemoval.
 */
export function ingestRemovalOps(path: string): FsBatchOp[] {
  return [...INGEST_FILES.map((name): FsBatchOp => ({ op: 'unlink', path: join(path, name), optional: true })), { op: 'rmdir', path, optional: true }];
}

/**
 * Settle what ingestRemovalOps did: a directory that still holds something (a temporary an interrupted
 * write left) goes the long way, a recursive removal; any other failure is thrown.
 */
export async function finishIngestRemoval(path: string, results: readonly FsBatchResult[]): Promise<void> {
  const unlinked = results.slice(0, INGEST_FILES.length);
  const removed = results[INGEST_FILES.length];
  const failed = unlinked.find((r) => r.error !== undefined && !isNotExist(r.error));
  if (failed !== undefined) throw failed.error;
  const code = removed?.error?.code;
  if (code === undefined) return;
  if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw removed!.error;
  await rm(path, { recursive: true, force: true });
}
