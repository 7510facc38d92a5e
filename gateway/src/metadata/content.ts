import { randomBytes } from 'node:crypto';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  isAlreadyExists,
  isNotFound,
} from '@flotilla/errdefs';
import { writeDataLength, writeDataPieces, type ContentStore, type Info, type Status, type Writer, type WriterOptions } from '@flotilla/service-content';
import { ContentCreateSchema, ContentDeleteSchema } from '@flotilla/proto/containerd/events/content_pb';
import type { Db } from './db.js';
import { validateLabels } from './labels.js';
import type { LeaseStore } from './leases.js';
import type { NamespaceHolder } from './namespaces.js';
import type { Exchange } from '../events/exchange.js';
import type { RwLock } from '../gc/rw-lock.js';
import { compileFilters } from '../filters.js';
import { createSmallBlobCache, SMALL_BLOB_BYTES, type SmallBlobCache } from './small-blobs.js';

/** Namespace label that lets any namespace take a blob this namespace holds by naming its digest. */
export const SHAREABLE_NAMESPACE_LABEL = 'containerd.io/namespace.shareable';

/** The digest of no bytes: what a new ingest reports before anything is written. */
const EMPTY_DIGEST = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** Ingests not held by a lease are abandoned after a day, as in containerd. */
const INGEST_EXPIRY_MS = 24 * 3600 * 1000;

export interface NamespacedContentOptions {
  db: Db;
  /** The content process (or an operator's content proxy plugin): where the bytes live. */
  backend: ContentStore;
  leases: LeaseStore;
  events: Exchange;
  /** Shared with the collector: commits read-lock it, sweeping the backend write-locks it. */
  lock: RwLock;
  /** Ask for a collection after a deletion. */
  onDelete(): void;
  /**
   * containerd's content sharing policy. "shared": a namespace may take a blob another namespace holds by
   * naming its digest. "isolated": it must write the bytes itself (unless the holder is shareable).
   */
  policy?: 'shared' | 'isolated';
  /** Where small blobs are kept once read (small-blobs.ts); one per gateway by default. */
  smallBlobs?: SmallBlobCache;
  /**
   * Runs a transaction whose changes no answer waits to see on disk (Durability.unsynced): an ingest's
   * record, which holds nothing a client was promised. By default it just runs it.
   */
  unsynced?: <T>(fn: () => T) => T;
}

export interface NamespacedContent extends NamespaceHolder {
  /** The content store one namespace sees; `lease` is the caller's lease, which keeps what it writes. */
  store(namespace: string, lease?: string): ContentStore;
  /** A blob's record in a namespace, at once (what the store's info answers); NotFound when it has none. */
  infoNow(namespace: string, digest: string): Info;
}

/** An ingest's record: its backend ref and what the gateway knows better than the backend. */
interface IngestRow {
  bref: string;
  expected: string;
  updated_at: number | null;
  started_at: number | null;
}

/** A backend status as the namespace sees it: its ref, and the gateway's own start and update times. */
function asRecorded(st: Status, ref: string, row: IngestRow): Status {
  return {
    ...st,
    ref,
    startedAt: row.started_at !== null ? new Date(row.started_at) : st.startedAt,
    updatedAt: row.updated_at !== null ? new Date(row.updated_at) : st.updatedAt,
  };
}

interface Row {
  digest: string;
  size: number;
  created_at: number;
  updated_at: number;
}

/**
 * Content as containerd's metadata layer serves it: the bytes are stored once, in the backend, but
 * each namespace has its own record of which blobs it holds, with its own labels. A namespace cannot
 * read, list or delete a blob it never committed (or took from a shareable namespace).
 */
export function createNamespacedContent(opts: NamespacedContentOptions): NamespacedContent {
  const { db, backend, leases, events, lock } = opts;
  const shared = (opts.policy ?? 'shared') === 'shared';
  const smallBlobs = opts.smallBlobs ?? createSmallBlobCache();
  const unsynced = opts.unsynced ?? (<T>(fn: () => T): T => fn());
  /**
   * Backend ingests being made for new records (see writer), by backend ref: whatever asks the backend about
   * one of them waits for it first, so nobody sees a recorded ingest the backend does not know yet.
   */
  const making = new Map<string, Promise<unknown>>();
  const made = async (bref: string) => {
    await making.get(bref)?.catch(() => {});
  };
  /**
   * The status of each ingest whose writer this gateway made and holds open, by backend ref: what the
   * client has been told (bytes accepted, when), answered without asking the content process. Clients
   * poll ListStatuses while they write (ctr every 100 ms), and each poll was a round trip into the process
   * busy with those very writes.
   */
  const live = new Map<string, () => Status>();
  const q = {
    ensureNs: db.prepare('INSERT OR IGNORE INTO namespaces (name, created_at, updated_at) VALUES (?, ?, ?)'),
    get: db.prepare('SELECT digest, size, created_at, updated_at FROM content WHERE namespace = ? AND digest = ?'),
    list: db.prepare('SELECT digest, size, created_at, updated_at FROM content WHERE namespace = ? ORDER BY digest'),
    labels: db.prepare('SELECT key, value FROM content_labels WHERE namespace = ? AND digest = ?'),
    allLabels: db.prepare('SELECT digest, key, value FROM content_labels WHERE namespace = ?'),
    insert: db.prepare('INSERT INTO content (namespace, digest, size, created_at, updated_at) VALUES (?, ?, ?, ?, ?)'),
    touch: db.prepare('UPDATE content SET updated_at = ? WHERE namespace = ? AND digest = ?'),
    clearLabels: db.prepare('DELETE FROM content_labels WHERE namespace = ? AND digest = ?'),
    setLabel: db.prepare('INSERT INTO content_labels (namespace, digest, key, value) VALUES (?, ?, ?, ?)'),
    delete: db.prepare('DELETE FROM content WHERE namespace = ? AND digest = ?'),
    any: db.prepare('SELECT 1 FROM content WHERE namespace = ? LIMIT 1').pluck(),
    ingest: db.prepare('SELECT bref, expected, updated_at, started_at FROM ingests WHERE namespace = ? AND ref = ?'),
    ingests: db.prepare('SELECT ref, bref, updated_at, started_at FROM ingests WHERE namespace = ?'),
    touchIngest: db.prepare('UPDATE ingests SET updated_at = ? WHERE namespace = ? AND ref = ?'),
    insertIngest: db.prepare('INSERT INTO ingests (namespace, ref, bref, expected, expires_at, started_at) VALUES (?, ?, ?, ?, ?, ?)'),
    updateIngest: db.prepare('UPDATE ingests SET expected = ?, expires_at = ? WHERE namespace = ? AND ref = ?'),
    deleteIngest: db.prepare('DELETE FROM ingests WHERE namespace = ? AND ref = ?'),
    sharedBy: db.prepare(`SELECT 1 FROM content c JOIN namespace_labels l ON l.namespace = c.namespace
                          WHERE c.digest = ? AND l.key = ? AND l.value = 'true' LIMIT 1`).pluck(),
    anyHolder: db.prepare('SELECT 1 FROM content WHERE digest = ? LIMIT 1').pluck(),
  };

  const labelsOf = (ns: string, digest: string): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const r of q.labels.all(ns, digest) as { key: string; value: string }[]) out[r.key] = r.value;
    return out;
  };
  const toInfo = (r: Row, labels: Record<string, string>): Info => ({
    digest: r.digest,
    size: r.size,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
    labels,
  });
  const row = (ns: string, digest: string): Row => {
    const r = q.get.get(ns, digest) as Row | undefined;
    if (!r) throw new NotFoundError(`content digest ${digest}`);
    return r;
  };
  const infoOf = (ns: string, digest: string): Info => toInfo(row(ns, digest), labelsOf(ns, digest));
  const ensureNs = (ns: string) => {
    const now = Date.now();
    q.ensureNs.run(ns, now, now);
  };

  function store(ns: string, lease?: string): ContentStore {
    // What a lease holds: containerd adds every blob and ingest a leased client touches to its lease.
    const leaseAdd = (type: 'content' | 'ingests', id: string) => { if (lease) leases.addResource(ns, lease, { type, id }); };
    const leaseRemove = (type: 'content' | 'ingests', id: string) => { if (lease) leases.deleteResource(ns, lease, { type, id }); };

    const recordCommit = db.transaction((ref: string, digest: string, size: number, labels: Readonly<Record<string, string>>) => {
      ensureNs(ns);
      let exists = false;
      if (q.get.get(ns, digest)) {
        exists = true;
      } else {
        const now = Date.now();
        q.insert.run(ns, digest, size, now, now);
        for (const [k, v] of Object.entries(labels)) q.setLabel.run(ns, digest, k, v);
      }
      q.deleteIngest.run(ns, ref);
      leaseRemove('ingests', ref);
      leaseAdd('content', digest);
      return exists;
    });

    return {
      async info(digest) {
        return infoOf(ns, digest);
      },

      async update(info, fieldpaths = []) {
        const apply = db.transaction(() => {
          const r = row(ns, info.digest);
          let labels = labelsOf(ns, info.digest);
          if (fieldpaths.length === 0) {
            labels = { ...info.labels };
          } else {
            for (const path of fieldpaths) {
              if (path.startsWith('labels.')) {
                const key = path.slice('labels.'.length);
                const v = info.labels[key];
                if (v === undefined || v === '') delete labels[key];
                else labels[key] = v;
              } else if (path === 'labels') {
                labels = { ...info.labels };
              } else {
                throw new InvalidArgumentError(`cannot update ${JSON.stringify(path)} field on content info ${JSON.stringify(info.digest)}`);
              }
            }
          }
          validateLabels(labels);
          const now = Date.now();
          q.clearLabels.run(ns, info.digest);
          for (const [k, v] of Object.entries(labels)) q.setLabel.run(ns, info.digest, k, v);
          q.touch.run(now, ns, info.digest);
          return toInfo({ ...r, updated_at: now }, labels);
        });
        return apply();
      },

      async *list(filters = []) {
        const match = compileFilters(filters);
        const labels = new Map<string, Record<string, string>>();
        for (const r of q.allLabels.all(ns) as { digest: string; key: string; value: string }[]) {
          let l = labels.get(r.digest);
          if (!l) labels.set(r.digest, (l = {}));
          l[r.key] = r.value;
        }
        for (const r of q.list.all(ns) as Row[]) {
          const l = labels.get(r.digest) ?? {};
          if (match({ digest: r.digest, size: String(r.size) }, l)) yield toInfo(r, l);
        }
      },

      async delete(digest) {
        const del = db.transaction(() => {
          row(ns, digest);
          q.delete.run(ns, digest);
          leaseRemove('content', digest);
        });
        del();
        events.publish(ns, '/content/delete', ContentDeleteSchema, { digest });
        opts.onDelete();
      },

      read(digest, readOpts) {
        return smallBlobs.read(backend, digest, row(ns, digest).size, readOpts);
      },

      async status(ref) {
        const ing = q.ingest.get(ns, ref) as IngestRow | undefined;
        if (!ing) throw new NotFoundError(`reference ${ref}`);
        const here = live.get(ing.bref);
        if (here !== undefined) return { ...here(), ref };
        await made(ing.bref);
        const st = await backend.status(ing.bref);
        return asRecorded(st, ref, ing);
      },

      async listStatuses(filters = []) {
        const match = compileFilters(filters);
        const rows = (q.ingests.all(ns) as (IngestRow & { ref: string })[]).filter((r) => match({ ref: r.ref }));
        if (rows.length === 0) return [];
        const elsewhere = rows.filter((r) => !live.has(r.bref));
        await Promise.all(elsewhere.map((r) => made(r.bref)));
        // One listing of the backend rather than a Status call per ingest, and none when every ingest is
        // written through this gateway now.
        const byBackendRef = new Map(elsewhere.length === 0 ? [] : (await backend.listStatuses()).map((st) => [st.ref, st]));
        const out: Status[] = [];
        for (const row of rows) {
          const here = live.get(row.bref);
          if (here !== undefined) {
            out.push({ ...here(), ref: row.ref });
            continue;
          }
          const st = byBackendRef.get(row.bref);
          // Gone from the backend (aborted meanwhile): not an ingest any more.
          if (st === undefined) continue;
          out.push(asRecorded(st, row.ref, row));
        }
        return out;
      },

      async abort(ref) {
        const ing = db.transaction(() => {
          const i = q.ingest.get(ns, ref) as { bref: string; expected: string } | undefined;
          if (!i) throw new NotFoundError(`reference ${ref}`);
          q.deleteIngest.run(ns, ref);
          leaseRemove('ingests', ref);
          return i;
        })();
        // A shared ingest that never wrote has nothing in the backend.
        if (ing.expected === '') {
          await made(ing.bref);
          try {
            await backend.abort(ing.bref);
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        }
      },

      async writer(w: WriterOptions): Promise<Writer> {
        if (!w.ref) throw new InvalidArgumentError('ref must not be empty');
        const expected = w.expected ?? '';
        let total = w.total ?? 0;
        if (expected !== '' && q.get.get(ns, expected)) {
          // Already here: keep it in the caller's lease and tell them there is nothing to write.
          db.transaction(() => leaseAdd('content', expected))();
          throw new AlreadyExistsError(`content ${expected}`);
        }
        let sharedFrom = false;
        // Only a blob some namespace holds is worth asking the backend about: anything else there is
        // garbage the next collection removes, and writing it again costs nothing but the bytes (its
        // commit finds it there, which is fine), where the question is a round trip on every ingest.
        if (expected !== '' && (shared || q.sharedBy.get(expected, SHAREABLE_NAMESPACE_LABEL)) && q.anyHolder.get(expected)) {
          try {
            const st = await backend.info(expected);
            if (total === 0 || total === st.size) {
              sharedFrom = true;
              total = st.size;
            }
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        }
        // Held shared while the ingest comes into being (its record here and its file in the backend): a
        // collection in between would see a backend ingest nobody records and abort it.
        const started = new Date();
        // When the client first opened the ingest, as recorded here (the backend made it a little later);
        // undefined for a record older than that column.
        let startedAt: Date | undefined;
        let inner: Writer | undefined;
        let bref = '';
        let fresh = false;
        let markRecorded!: () => void;
        const isRecorded = new Promise<void>((resolve) => { markRecorded = resolve; });
        const creating = lock.read(async () => {
          // Only bookkeeping: an ingest's bytes are not on disk before commit either, so its record need
          // not be before the client hears of it.
          bref = unsynced(db.transaction(() => {
            ensureNs(ns);
            const existing = q.ingest.get(ns, w.ref) as IngestRow | undefined;
            const expires = lease ? null : Date.now() + INGEST_EXPIRY_MS;
            const name = existing?.bref ?? `${ns}-${randomBytes(6).toString('hex')}-${w.ref}`;
            if (existing) q.updateIngest.run(sharedFrom ? expected : '', expires, ns, w.ref);
            else q.insertIngest.run(ns, w.ref, name, sharedFrom ? expected : '', expires, started.getTime());
            leaseAdd('ingests', w.ref);
            fresh = existing === undefined;
            startedAt = existing === undefined ? started : existing.started_at !== null ? new Date(existing.started_at) : undefined;
            return name;
          }));
          markRecorded();
          // The namespace has not written the bytes itself: the expected blob stands in until it writes.
          if (!sharedFrom) inner = await backend.writer({ ref: bref, total, expected: '' });
        });
        await Promise.race([isRecorded, creating]);
        // A new record names a backend ingest nobody has made yet (the name is fresh), so its status is known
        // without asking: empty. The client is answered now and the backend catches up while the client
        // starts its download; whatever needs the backend's writer waits for it, and a failure to make it
        // surfaces there. An ingest that already existed may hold bytes: its offset comes from the backend.
        let opening: Promise<void> | undefined;
        let pending = false;
        // When this writer last took bytes. Writes to the backend are pipelined (the client is answered once
        // the gateway has the bytes), so the backend stamps its updatedAt a little later; the client's view
        // of the ingest is when its write was accepted.
        let acceptedAt: Date | undefined;
        // Bytes this writer has accepted: for a new ingest (tracked), all it holds.
        let accepted = 0;
        const tracked = fresh && !sharedFrom;
        // A copy of everything a new small ingest was given, for the small-blob cache once it is committed
        // (undefined once it cannot be the whole blob: too big, or truncated).
        let copied: Uint8Array[] | undefined = tracked && total <= SMALL_BLOB_BYTES ? [] : undefined;
        // What the client has been told of a new ingest: no round trip needed (see `live`).
        const told = (): Status => ({ ref: w.ref, offset: accepted, total, expected: '', startedAt: started, updatedAt: acceptedAt ?? started });
        if (tracked) {
          live.set(bref, told);
          opening = creating;
          pending = true;
          making.set(bref, creating);
          // Registered before anything else waits on it, so these run first.
          creating.then(() => { opening = undefined; pending = false; }, () => { pending = false; })
            .finally(() => making.delete(bref));
        } else {
          await creating;
        }
        const opened = async () => {
          if (opening !== undefined) await opening;
        };
        const copyFrom = (size: number) => lock.read(async () => {
          const wr = await backend.writer({ ref: bref, total: size, expected: '' });
          if (size > 0) {
            for await (const chunk of backend.read(expected, { offset: 0, size })) await wr.write(chunk);
          }
          inner = wr;
          return wr;
        });

        const recorded = () => {
          const r = q.ingest.get(ns, w.ref) as { updated_at: number | null } | undefined;
          return r?.updated_at != null ? new Date(r.updated_at) : undefined;
        };
        return {
          ref: w.ref,
          async status() {
            // Nothing can have been written while the backend's writer is still being made.
            if (pending) return told();
            await opened();
            if (inner) {
              const st = await inner.status();
              return { ...st, ref: w.ref, startedAt: startedAt ?? st.startedAt, updatedAt: acceptedAt ?? recorded() ?? st.updatedAt };
            }
            return { ref: w.ref, offset: total, total, expected, startedAt: started, updatedAt: started };
          },
          digest: () => (inner ? inner.digest() : opening !== undefined ? EMPTY_DIGEST : expected),
          async write(data) {
            await opened();
            if (!inner) {
              if (writeDataLength(data) === 0) return;
              await copyFrom(total);
            }
            await inner!.write(data);
            accepted += writeDataLength(data);
            acceptedAt = new Date();
            if (copied !== undefined) {
              if (accepted > SMALL_BLOB_BYTES) copied = undefined;
              else for (const piece of writeDataPieces(data)) copied.push(Uint8Array.prototype.slice.call(piece));
            }
          },
          async truncate(size) {
            copied = undefined;
            await opened();
            if (inner) {
              await inner.truncate(size);
              accepted = size;
              return;
            }
            await copyFrom(size);
          },
          async commit(size, commitExpected, commitOpts) {
            const labels = commitOpts?.labels ?? {};
            validateLabels(labels);
            let actual: string;
            let actualSize: number;
            let exists: boolean;
            try {
              await opened();
              exists = await lock.read(async () => {
                if (!inner) {
                  if (size !== 0 && size !== total) throw new FailedPreconditionError(`${JSON.stringify(w.ref)} failed size validation: ${total} != ${size}`);
                  if (commitExpected !== '' && commitExpected !== expected) throw new FailedPreconditionError(`${JSON.stringify(w.ref)} unexpected digest`);
                  actual = expected;
                  actualSize = total;
                } else {
                  // A new ingest holds what this writer accepted: known without waiting for the backend to
                  // confirm the last writes, which the commit, sent right behind them, waits for anyway.
                  const held = tracked ? accepted : (await inner.status()).offset;
                  if (size !== 0 && size !== held) {
                    await inner.close();
                    throw new FailedPreconditionError(`${JSON.stringify(w.ref)} failed size validation: ${held} != ${size}`);
                  }
                  actualSize = held;
                  try {
                    await inner.commit(actualSize, commitExpected);
                  } catch (err) {
                    if (!isAlreadyExists(err)) throw err;
                  }
                  actual = inner.digest();
                }
                return recordCommit(w.ref, actual, actualSize, labels);
              });
            } finally {
              // Committed or not, the writer is done (containerd's contract): its status is the backend's
              // again. Until then it is what the client was told, the bytes the commit is taking: a client
              // polling while its blob commits (ctr every 100 ms) is not sent to the busy content process.
              live.delete(bref);
            }
            if (exists) throw new AlreadyExistsError(`content ${actual!}`);
            if (copied !== undefined && copied.length > 0 && accepted === actualSize!) smallBlobs.remember(actual!, Buffer.concat(copied));
            events.publish(ns, '/content/create', ContentCreateSchema, { digest: actual!, size: BigInt(actualSize!) });
          },
          async close() {
            live.delete(bref);
            if (acceptedAt) q.touchIngest.run(acceptedAt.getTime(), ns, w.ref);
            // A backend writer that could not be made has nothing to close; its error went to the caller.
            await opened().catch(() => {});
            await inner?.close();
          },
        };
      },
    };
  }

  return {
    kind: 'blobs',
    holds: (ns) => q.any.get(ns) !== undefined,
    store,
    infoNow: infoOf,
  };
}
