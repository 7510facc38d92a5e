import { close as closeCb, ftruncate as ftruncateCb, write as writeCb, writev as writevCb } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError } from '@flotilla/errdefs';
import type { Logger } from '@flotilla/log';
import { fsBatch, type FsBatchOp } from '@flotilla/native';
import type { DigestAlgorithm } from './digest.js';
import { hashFile, type IngestHash } from './ingest-hash.js';
import { finishIngestRemoval, ingestFile, ingestRemovalOps, throwFirstError, timestampOp } from './ingest-files.js';
import { validateLabels } from './labels.js';
import type { LabelStore } from './label-store.js';
import type { RefLocks } from './ref-locks.js';
import type { CommitOptions, Status, WriteData, Writer } from './store.js';
import { dropLeadingBytes, writeDataLength, writeDataPieces } from './write-data.js';

const closeFd = promisify(closeCb);
const ftruncate = promisify(ftruncateCb);

/** What the store hands a writer it opened: the ingest's state and the store's shared parts. */
export interface LocalWriterInit {
  readonly ref: string;
  /** The ingest directory. */
  readonly path: string;
  /** The open data file, positioned by explicit offsets (pwrite), so no seek is ever needed. */
  readonly fd: number;
  readonly offset: number;
  readonly total: number;
  readonly expected: string;
  readonly algorithm: DigestAlgorithm;
  /** The hash of the data file's first `offset` bytes. */
  readonly hash: IngestHash;
  readonly startedAt: Date;
  readonly updatedAt: Date;
  /** Where a blob of this digest lives (the digest is one this writer computed, so valid). */
  blobPath(digest: string): string;
  /** mkdir -p, remembered, so a commit does not stat a directory it made before. */
  ensureDir(dir: string): Promise<void>;
  readonly labels: LabelStore;
  readonly locks: RefLocks;
  readonly log: Logger;
}

/** Write all of buf at pos. A regular file takes a whole write in one call; the loop is for the odd case. */
function pwriteAll(fd: number, buf: Uint8Array, pos: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const next = () => writeCb(fd, buf, done, buf.length - done, pos + done, (err, n) => {
      if (err) return reject(err);
      done += n;
      if (done < buf.length) next();
      else resolve();
    });
    next();
  });
}

/** Write pieces in order at pos, in one pwritev (a request's data as it arrived, never assembled). */
function pwritevAll(fd: number, pieces: readonly Uint8Array[], pos: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let left = pieces;
    const next = () => writevCb(fd, left as Uint8Array[], pos, (err, n) => {
      if (err) return reject(err);
      pos += n;
      left = dropLeadingBytes(left, n);
      if (left.length > 0) next();
      else resolve();
    });
    next();
  });
}

function pwriteData(fd: number, data: WriteData, pos: number): Promise<void> {
  const pieces = writeDataPieces(data);
  return pieces.length === 1 ? pwriteAll(fd, pieces[0]!, pos) : pwritevAll(fd, pieces, pos);
}

/**
 * The writer of one ingest (containerd's local writer.go). The hot path is write: one pwrite and the hash of
 * the same bytes started side by side on libuv's pool, then the wait; nothing else is
 * allocated or awaited per chunk, and nothing is synced until commit or close.
 */
export function createLocalWriter(init: LocalWriterInit): Writer {
  const { ref, path, algorithm, log } = init;
  const dataPath = ingestFile(path, 'data');
  let fd: number | undefined = init.fd;
  let offset = init.offset;
  let hash = init.hash;
  let updatedAt = init.updatedAt.getTime();
  /** Set when a write failed after its bytes went into the hash: the hash no longer matches the file. */
  let broken: unknown;
  // Calls are serialized on this chain, so a caller that does not await one write before the next still
  // gets its bytes in order.
  let tail: Promise<unknown> = Promise.resolve();
  const serial = <T>(op: () => Promise<T>): Promise<T> => {
    const p = tail.then(op);
    tail = p.catch(() => {});
    return p;
  };
  const requireOpen = (): number => {
    if (fd === undefined) throw new FailedPreconditionError(`writer for ref ${ref} is closed`);
    if (broken !== undefined) throw new FailedPreconditionError(`writer for ref ${ref} failed: ${String((broken as Error).message ?? broken)}`);
    return fd;
  };
  const currentDigest = () => `${algorithm}:${hash.hex()}`;

  /** Publish the verified ingest as a blob; the writer's fd is already closed. */
  async function publish(dgst: string, mode: number, opts: CommitOptions | undefined): Promise<void> {
    const target = init.blobPath(dgst);
    await init.ensureDir(dirname(target));
    const now = Date.now();
    // Once the blob is visible: its time and mode, and the ingest directory's removal.
    const finish: FsBatchOp[] = [
      { op: 'utimes', path: target, timeMs: now, optional: true },
      // Read-only from here on, honouring the umask the file was created with (containerd's mode & ^0333).
      { op: 'chmod', path: target, mode: mode & 0o777 & ~0o333, optional: true },
      ...ingestRemovalOps(path),
    ];
    // link(2) fails with EEXIST instead of replacing, so "already there" is decided atomically (containerd
    // stats then renames, which two committers of one digest can both pass). Labels are recorded between
    // the link and the rest, so a blob is never seen without them; with none (the gateway keeps its own),
    // the link and the rest are one trip through the thread pool.
    const [linked, ...linkedRest] = await fsBatch([{ op: 'link', from: dataPath, to: target }, ...(opts?.labels === undefined ? finish : [])]);
    let rest = linkedRest;
    if (linked!.error !== undefined) {
      const code = linked!.error.code;
      if (code === 'EEXIST') {
        await rm(path, { recursive: true, force: true }).catch((e: unknown) => log.error({ ref, err: e }, 'failed to remove ingest directory'));
        throw new AlreadyExistsError(`content ${dgst}`);
      }
      // A filesystem without hard links: containerd's way.
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw linked!.error;
      const exists = await stat(target).then(() => true, () => false);
      if (exists) {
        await rm(path, { recursive: true, force: true }).catch(() => {});
        throw new AlreadyExistsError(`content ${dgst}`);
      }
      await rename(dataPath, target);
      rest = [];
    }
    // The blob is visible now and cannot be taken back: what follows is logged, not returned.
    if (opts?.labels !== undefined) {
      try {
        init.labels.set(dgst, opts.labels, now);
      } catch (err) {
        log.error({ digest: dgst, err }, 'failed to set labels');
      }
    }
    if (rest.length === 0) rest = await fsBatch(finish);
    const [timed, moded, ...removal] = rest;
    if (timed!.error !== undefined) log.error({ digest: dgst, err: timed!.error }, 'failed to change file time to commit time');
    if (moded!.error !== undefined) log.error({ ref, err: moded!.error }, 'failed to make readonly');
    await finishIngestRemoval(path, removal).catch((err: unknown) => log.error({ ref, err }, 'failed to remove ingest directory'));
  }

  return {
    ref,
    async status(): Promise<Status> {
      return { ref, offset, total: init.total, expected: init.expected, startedAt: init.startedAt, updatedAt: new Date(updatedAt) };
    },
    digest: currentDigest,
    write(data) {
      return serial(async () => {
        const fd = requireOpen();
        const length = writeDataLength(data);
        if (length === 0) return;
        // The write and the hash of the same bytes run side by side on the thread pool.
        const written = pwriteData(fd, data, offset);
        const hashed = hash.update(writeDataPieces(data));
        const [w, h] = await Promise.allSettled([written, hashed]);
        const failed = w.status === 'rejected' ? w : h.status === 'rejected' ? h : undefined;
        if (failed !== undefined) {
          broken = failed.reason;
          throw failed.reason;
        }
        offset += length;
        updatedAt = Date.now();
      });
    },
    truncate(size) {
      return serial(async () => {
        const fd = requireOpen();
        if (!Number.isSafeInteger(size) || size < 0 || size > offset) {
          throw new InvalidArgumentError(`cannot truncate ingest ${ref} to ${size}: it holds ${offset} bytes`);
        }
        await ftruncate(fd, size);
        // Hash the first `size` bytes of the data file again.
        ({ hash } = await hashFile(algorithm, dataPath, size));
        offset = size;
        updatedAt = Date.now();
      });
    },
    commit(size, expected, opts) {
      return serial(async () => {
        // Commit always closes the writer and releases the ref, even when it fails (containerd's contract);
        // a failed verification leaves the ingest for the client to abort or write again.
        const held = fd;
        fd = undefined;
        if (held === undefined) throw new FailedPreconditionError('cannot commit on closed writer');
        let closed = false;
        try {
          if (broken !== undefined) throw new FailedPreconditionError(`writer for ref ${ref} failed: ${String((broken as Error).message ?? broken)}`);
          if (opts?.labels !== undefined) validateLabels(opts.labels);
          // Synced, measured and closed in one trip; a failure before the close leaves it to `finally`.
          const [synced, measured, shut] = await fsBatch([{ op: 'fsync', fd: held }, { op: 'fstat', fd: held }, { op: 'close', fd: held }]);
          // Linux releases the descriptor even when close(2) reports an error: never close it twice.
          closed = shut!.skipped !== true;
          throwFirstError([synced!, measured!, shut!]);
          const st = { size: measured!.size!, mode: measured!.mode! };
          if (size > 0 && size !== st.size) {
            throw new FailedPreconditionError(`unexpected commit size ${st.size}, expected ${size}`);
          }
          const dgst = currentDigest();
          if (expected !== '' && expected !== dgst) {
            throw new FailedPreconditionError(`unexpected commit digest ${dgst}, expected ${expected}`);
          }
          await publish(dgst, st.mode, opts);
        } finally {
          if (!closed) await closeFd(held).catch(() => {});
          init.locks.unlock(ref);
        }
      });
    },
    close() {
      return serial(async () => {
        // Closing leaves the ingest as it is for a later writer to resume; it records when it was last
        // written, since the files alone say only when it began.
        const held = fd;
        if (held === undefined) return;
        fd = undefined;
        try {
          const [, shut, stamped] = await fsBatch([
            { op: 'fsync', fd: held, optional: true },
            { op: 'close', fd: held, optional: true },
            timestampOp(ingestFile(path, 'updatedAt'), new Date(updatedAt)),
          ]);
          if (stamped!.error !== undefined) log.debug({ ref, err: stamped!.error }, 'failed to write updatedat');
          if (shut!.error !== undefined) throw shut!.error;
        } finally {
          init.locks.unlock(ref);
        }
      });
    },
  };
}
