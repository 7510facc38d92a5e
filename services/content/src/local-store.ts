import { randomUUID } from 'node:crypto';
import { constants, open as openCb } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { AlreadyExistsError, InvalidArgumentError, NotFoundError, OutOfRangeError, isNotFound } from '@flotilla/errdefs';
import { parseAll } from '@flotilla/filters';
import type { Logger } from '@flotilla/log';
import { fsBatch, type FsBatchOp } from '@flotilla/native';
import { adaptInfo, adaptStatus } from './content-filters.js';
import { CANONICAL, digestAlgorithms, digestProblem, parseDigest, type DigestAlgorithm } from './digest.js';
import { ingestFile, ingestFileOps, ingestRoot, isNotExist, readIngestStatus, throwFirstError } from './ingest-files.js';
import { validateLabels } from './labels.js';
import { openLabelStore, type BlobMeta } from './label-store.js';
import { createLocalWriter } from './local-writer.js';
import { hashFile, ingestHash, type IngestHash } from './ingest-hash.js';
import { createRefLocks } from './ref-locks.js';
import type { ContentStore, Info, Status, Writer } from './store.js';

const openFd = promisify(openCb);

/** Read chunk size: containerd's contentserver copies through a 1 MiB buffer. */
const READ_CHUNK = 1 << 20;
/** Blobs stat'ed at once while listing. */
const STAT_BATCH = 64;

export interface LocalStoreOptions {
  /** The plugin's directory: blobs/, ingest/ and labels.db live under it. */
  readonly root: string;
  readonly log: Logger;
}

export type LocalContentStore = ContentStore & {
  /** Close the label database. Writers still open keep working until they finish. */
  close(): void;
};

/**
 * containerd's content/local store: blobs at `<root>/blobs/<algorithm>/<hex>` (read-only once committed),
 * ingests under `<root>/ingest/` (see ingest-files.ts), labels in `<root>/labels.db`. It knows nothing
 * of namespaces; the gateway keeps which namespace sees which blob.
 */
export async function createLocalStore(opts: LocalStoreOptions): Promise<LocalContentStore> {
  const { root, log } = opts;
  await mkdir(root, { recursive: true, mode: 0o755 });
  const labels = openLabelStore(join(root, 'labels.db'));
  const locks = createRefLocks(log);
  const madeDirs = new Set<string>();
  /**
   * Writers open in this process, by ingest directory name. Clients poll ListStatuses while they write
   * (ctr's progress, every 100 ms): read from the files, each poll cost five file reads per ingest on the
   * thread pool the writes need.
   */
  const openWriters = new Map<string, Writer>();
  const ensureDir = async (dir: string, mode = 0o755) => {
    if (madeDirs.has(dir)) return;
    await mkdir(dir, { recursive: true, mode });
    madeDirs.add(dir);
  };

  const blobPath = (digest: string, context = 'cannot calculate blob path from invalid digest:'): string => {
    const d = parseDigest(digest, context);
    return join(root, 'blobs', d.algorithm, d.encoded);
  };

  const infoOf = (digest: string, size: number, mtime: Date, meta: BlobMeta): Info => ({
    digest,
    size,
    createdAt: mtime,
    updatedAt: meta.updatedAt !== undefined ? new Date(meta.updatedAt) : mtime,
    labels: meta.labels,
  });

  async function statBlob(digest: string): Promise<{ path: string; size: number; mtime: Date }> {
    const path = blobPath(digest);
    try {
      const st = await stat(path);
      return { path, size: st.size, mtime: st.mtime };
    } catch (err) {
      if (isNotExist(err)) throw new NotFoundError(`content ${digest}`, { cause: err });
      throw err;
    }
  }

  /** Continue an ingest left by an earlier writer: check it is the same ref and hash what it holds. */
  async function resume(path: string, ref: string, total: number, algorithm: DigestAlgorithm): Promise<{ status: Status; hash: IngestHash }> {
    const status = await readIngestStatus(path);
    // A different ref here means layout corruption or a collision of the ref's hash.
    if (status.ref !== ref) throw new Error(`ref key does not match: ${ref} != ${status.ref}`);
    if (total > 0 && status.total > 0 && total !== status.total) {
      throw new Error(`provided total differs from status: ${total} != ${status.total}`);
    }
    const { hash, hashed } = await hashFile(algorithm, ingestFile(path, 'data'));
    return { status: { ...status, offset: hashed }, hash };
  }

  async function openWriter(ref: string, total: number, expected: string): Promise<Writer> {
    let algorithm = CANONICAL;
    if (expected !== '') {
      const d = parseDigest(expected, 'calculating expected blob path for writer: invalid digest');
      const exists = await stat(join(root, 'blobs', d.algorithm, d.encoded)).then(() => true, () => false);
      if (exists) throw new AlreadyExistsError(`content ${expected}`);
      algorithm = d.algorithm;
    }
    const path = ingestRoot(root, ref);
    await ensureDir(join(root, 'ingest'), 0o777);
    const dataPath = ingestFile(path, 'data');
    const now = new Date();
    // A fresh ingest starts from an empty file even if a broken one left bytes behind.
    const fresh: FsBatchOp[] = [
      ...ingestFileOps(path, ref, now, total),
      { op: 'open', path: dataPath, flags: constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode: 0o666 },
    ];
    // The common case, a new ref, is one batch: the directory, its files, the open data file.
    const made = await fsBatch([{ op: 'mkdir', path, mode: 0o755 }, ...fresh]);
    let resumed: { status: Status; hash: IngestHash } | undefined;
    let fd: number;
    if (made[0]!.error?.code === 'EEXIST') {
      try {
        resumed = await resume(path, ref, total, algorithm);
      } catch (e) {
        log.info({ ref, path, err: e }, 'failed to resume the status; will recreate it');
      }
      if (resumed !== undefined) {
        fd = await openFd(dataPath, constants.O_WRONLY | constants.O_CREAT, 0o666);
      } else {
        const remade = await fsBatch(fresh);
        throwFirstError(remade);
        fd = remade.at(-1)!.fd!;
      }
    } else {
      throwFirstError(made);
      fd = made.at(-1)!.fd!;
    }
    const w = createLocalWriter({
      ref,
      path,
      fd,
      offset: resumed?.status.offset ?? 0,
      // The stored total wins, as in containerd; one announced now fills in a missing one.
      total: resumed !== undefined && resumed.status.total > 0 ? resumed.status.total : total,
      expected,
      algorithm,
      hash: resumed?.hash ?? ingestHash(algorithm),
      startedAt: resumed?.status.startedAt ?? now,
      updatedAt: resumed?.status.updatedAt ?? now,
      blobPath: (d) => blobPath(d),
      ensureDir: (d) => ensureDir(d),
      labels,
      locks,
      log,
    });
    // Known here until the writer lets go of the ref, however it does.
    const name = basename(path);
    openWriters.set(name, w);
    const forget = () => { if (openWriters.get(name) === w) openWriters.delete(name); };
    return {
      ...w,
      commit: (size, dgst, copts) => w.commit(size, dgst, copts).finally(forget),
      close: () => w.close().finally(forget),
    };
  }

  /**
   * The status of the ingest in directory `name`: from its writer when one is open in this process (what
   * the files would say, without reading five of them per ingest), else from the files.
   */
  function ingestStatus(name: string): Promise<Status> {
    const w = openWriters.get(name);
    // The files do not keep the expected digest, so neither does a status read from them.
    return w !== undefined ? w.status().then((st) => ({ ...st, expected: '' })) : readIngestStatus(join(root, 'ingest', name));
  }

  return {
    async info(digest) {
      const b = await statBlob(digest);
      return infoOf(digest, b.size, b.mtime, labels.get(digest));
    },

    async update(info, fieldpaths = []) {
      const b = await statBlob(info.digest);
      let all = fieldpaths.length === 0;
      let changes: Record<string, string> = all ? { ...info.labels } : {};
      for (const path of fieldpaths) {
        if (path.startsWith('labels.')) {
          const key = path.slice('labels.'.length);
          // A key absent from info.labels is removed: containerd sets it to "" and "" deletes.
          if (!all) changes[key] = info.labels[key] ?? '';
          continue;
        }
        if (path === 'labels') {
          all = true;
          changes = { ...info.labels };
          continue;
        }
        throw new InvalidArgumentError(`cannot update ${JSON.stringify(path)} field on content info ${JSON.stringify(info.digest)}`);
      }
      validateLabels(changes);
      const now = Date.now();
      const after = all ? labels.set(info.digest, changes, now) : labels.update(info.digest, changes, now);
      return { digest: info.digest, size: b.size, createdAt: b.mtime, updatedAt: new Date(now), labels: after };
    },

    async *list(filters = []) {
      const filter = parseAll(...filters);
      const meta = labels.all();
      const none: BlobMeta = { labels: {} };
      for (const algorithm of digestAlgorithms) {
        const dir = join(root, 'blobs', algorithm);
        let names: string[];
        try {
          names = await readdir(dir);
        } catch (err) {
          if (isNotExist(err)) continue;
          throw err;
        }
        for (let i = 0; i < names.length; i += STAT_BATCH) {
          const batch = names.slice(i, i + STAT_BATCH);
          const stats = await Promise.all(batch.map((name) => stat(join(dir, name)).catch(() => undefined)));
          for (let j = 0; j < batch.length; j++) {
            const st = stats[j];
            const digest = `${algorithm}:${batch[j]!}`;
            // Gone since readdir, or not a blob (containerd logs these as corruption).
            if (st === undefined || !st.isFile()) continue;
            if (digestProblem(digest) !== undefined) {
              log.error({ path: join(dir, batch[j]!) }, 'invalid digest for blob path');
              continue;
            }
            const info = infoOf(digest, st.size, st.mtime, meta.get(digest) ?? none);
            if (filter.match(adaptInfo(info))) yield info;
          }
        }
      }
    },

    async delete(digest) {
      try {
        await unlink(blobPath(digest, 'calculating blob path for delete: invalid digest'));
      } catch (err) {
        if (isNotExist(err)) throw new NotFoundError(`content ${digest}`, { cause: err });
        throw err;
      }
      labels.remove(digest);
    },

    async *read(digest, ropts = {}) {
      let fh;
      try {
        fh = await open(blobPath(digest), 'r');
      } catch (err) {
        if (isNotExist(err)) throw new NotFoundError(`content ${digest}`, { cause: err });
        throw err;
      }
      try {
        const actual = (await fh.stat()).size;
        let offset = Math.max(0, ropts.offset ?? 0);
        if (offset > actual) throw new OutOfRangeError(`read past object length ${actual} bytes`);
        let size = ropts.size ?? 0;
        if (size <= 0 || offset + size > actual) size = actual - offset;
        let remaining = size;
        while (remaining > 0) {
          // A fresh buffer per chunk: the consumer may keep what it was given.
          const buf = Buffer.allocUnsafe(Math.min(remaining, READ_CHUNK));
          const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
          if (bytesRead === 0) break;
          yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
          offset += bytesRead;
          remaining -= bytesRead;
        }
      } finally {
        await fh.close();
      }
    },

    async status(ref) {
      try {
        return await ingestStatus(basename(ingestRoot(root, ref)));
      } catch (err) {
        if (isNotFound(err)) throw new NotFoundError(`could not get status for ref ${JSON.stringify(ref)}`, { cause: err });
        throw err;
      }
    },

    async listStatuses(filters = []) {
      const filter = parseAll(...filters);
      let names: string[];
      try {
        names = await readdir(join(root, 'ingest'));
      } catch (err) {
        if (isNotExist(err)) return [];
        throw err;
      }
      // `<hash>.<uuid>.tmp` is an abort in progress, not an ingest.
      const statuses = await Promise.all(names.filter((n) => !n.includes('.')).map(async (n) => {
        try {
          return await ingestStatus(n);
        } catch (err) {
          // Committed or aborted while we listed: it does not exist any more.
          if (isNotFound(err)) return undefined;
          throw err;
        }
      }));
      return statuses.filter((s): s is Status => s !== undefined && filter.match(adaptStatus(s)));
    },

    async abort(ref) {
      const path = ingestRoot(root, ref);
      // Renamed away first so a concurrent writer or lister never sees a half-removed ingest.
      const tmp = `${path}.${randomUUID()}.tmp`;
      try {
        await rename(path, tmp);
      } catch (err) {
        if (isNotExist(err)) throw new NotFoundError(`ingest ref ${JSON.stringify(ref)}`, { cause: err });
        throw err;
      }
      // A writer still open on it writes into the removed directory: its status is not the ingest's any more.
      openWriters.delete(basename(path));
      await rm(tmp, { recursive: true, force: true });
    },

    async writer(wopts) {
      const { ref, total = 0, expected = '' } = wopts;
      if (ref === '') throw new InvalidArgumentError('ref must not be empty');
      locks.tryLock(ref);
      try {
        return await openWriter(ref, total, expected);
      } catch (err) {
        locks.unlock(ref);
        throw err;
      }
    },

    close() {
      labels.close();
    },
  };
}
