import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { NotFoundError } from '@flotilla/errdefs';
import type { Status } from './store.js';

/**
 * An ingest on disk, laid out as containerd's local store lays it out, so one survives a restart and a
 * later writer resumes it: `<root>/ingest/<sha256 hex of ref>/` holding `ref` (the ref itself), `data`
 * (the bytes so far; its size is the offset), `startedat` and `updatedat` (Go's RFC 3339 text) and
 * `total` (decimal, only when the client announced a size).
 */
export function ingestRoot(root: string, ref: string): string {
  // A hash of the ref keeps paths one length whatever the ref holds; it is not the content's digest.
  return join(root, 'ingest', createHash('sha256').update(ref).digest('hex'));
}

export function isNotExist(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * Write a small file so that a reader sees the old or the new content, never half: a synced temporary
 * then a rename (containerd's writeToCompletion).
 */
export async function writeToCompletion(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_SYNC, 0o666);
  try {
    await fh.writeFile(data);
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** RFC 3339 in UTC; Go's time.UnmarshalText reads it, and Date reads Go's nanosecond form back. */
export const writeTimestampFile = (path: string, t: Date): Promise<void> => writeToCompletion(path, t.toISOString());

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
    const n = Number.parseInt(await readFile(join(ingestPath, 'total'), 'utf8'), 10);
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
  const dataPath = join(ingestPath, 'data');
  let st;
  try {
    st = await stat(dataPath);
  } catch (err) {
    if (isNotExist(err)) throw new NotFoundError(`stat ${dataPath}: no such file or directory`, { cause: err });
    throw err;
  }
  let ref: string;
  try {
    ref = await readFile(join(ingestPath, 'ref'), 'utf8');
  } catch (err) {
    if (isNotExist(err)) throw new NotFoundError(`open ${join(ingestPath, 'ref')}: no such file or directory`, { cause: err });
    throw err;
  }
  const [startedAt, updatedFile, total] = await Promise.all([
    readTimestampFile(join(ingestPath, 'startedat')),
    readTimestampFile(join(ingestPath, 'updatedat')),
    readTotal(ingestPath),
  ]);
  const updatedAt = st.mtime > updatedFile ? st.mtime : updatedFile;
  return { ref, offset: st.size, total, expected: '', startedAt, updatedAt };
}

/** The files an ingest directory holds (see ingestRoot). */
const INGEST_FILES = ['data', 'ref', 'startedat', 'updatedat', 'total'];

/**
 * Remove a committed ingest's directory: its known files at once, then the directory; anything else in it
 * (a temporary file an interrupted write left) sends it the long way, a recursive removal.
 */
export async function removeIngestDir(path: string): Promise<void> {
  await Promise.all(INGEST_FILES.map((name) => unlink(join(path, name)).catch((err: unknown) => {
    if (!isNotExist(err)) throw err;
  })));
  try {
    await rmdir(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    await rm(path, { recursive: true, force: true });
  }
}
