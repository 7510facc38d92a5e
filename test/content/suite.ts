/**
 * containerd's content store conformance suite (core/content/testsuite/testsuite.go), ported case by case
 * to Flotilla's ContentStore. It reproduces the behaviour each Go case checks, not its text: the same
 * writes, closes, resumes and commits, the same expected outcomes and error kinds, the same time windows.
 *
 * Differences forced by the language, and only those:
 * - Go's clocks have nanoseconds, ours milliseconds. Where a case brackets an event between two clock
 *   readings, `tick()` first lets the clock move on, so that the windows of successive events do not
 *   overlap and a timestamp that failed to change (or changed when it should not) is caught, as in Go.
 * - Go's `content.Copy` takes an io.Reader and, to resume, seeks it (io.Seeker), reads a section of it
 *   (io.ReaderAt) or discards the bytes already written; `copyFrom` below does the same against our
 *   Writer, driven by the writer's status offset.
 * - containerd builds a fresh store per case; a store here lives for the whole run (a gateway per case
 *   would take minutes), so every ref and namespace carries the case's name.
 */
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { AlreadyExistsError, FailedPreconditionError, UnavailableError, isUnavailable } from '@flotilla/errdefs';
import type { ContentStore, Info, Status, Writer, WriterOptions } from '@flotilla/service-content';

export interface ContentTarget {
  /** The store as one namespace sees it; a target that has no namespaces ignores the argument. */
  store(namespace?: string): ContentStore;
  /** Whether stores of different namespaces hold separate metadata (the gateway's metadata layer). */
  namespaced: boolean;
  /**
   * containerd's `content_sharing_policy` the namespaced store runs with (default "shared", as in
   * containerd). The cross-namespace cases depend on it, as in containerd, which runs
   * CrossNamespaceAppend/Share against a shared store and CrossNamespaceIsolate/SharedNamespaceIsolate
   * against an isolated one.
   */
  contentSharingPolicy?: 'shared' | 'isolated';
  /** Set labels on a namespace (creating it if need be), as `ctr namespaces label` does. */
  setNamespaceLabels?(namespace: string, labels: Record<string, string>): Promise<void>;
  cleanup(): Promise<void>;
}

const EMPTY_DIGEST = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** The namespace label that lets other namespaces take its blobs even under the isolated policy. */
const SHAREABLE = 'containerd.io/namespace.shareable';

export function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Random bytes and their digest (containerd's createContent). */
export function createContent(size: number): { data: Buffer; digest: string } {
  const data = randomBytes(size);
  return { data, digest: sha256(data) };
}

/** Let the millisecond clock move on, so that the next reading is later than every earlier one. */
async function tick(): Promise<void> {
  const start = Date.now();
  while (Date.now() <= start) await sleep(1);
}

function expectWithin(what: string, at: Date, from: number, to: number): void {
  const t = at.getTime();
  expect(Number.isNaN(t), `${what} is not a valid time`).toBe(false);
  expect(
    t >= from && t <= to,
    `unexpected ${what} ${at.toISOString()}, expected between ${new Date(from).toISOString()} and ${new Date(to).toISOString()}`,
  ).toBe(true);
}

// --- Ports of containerd's content helpers (core/content/helpers.go) -----------------------------------

/**
 * content.OpenWriter: a ref in use is Unavailable, and containerd's helper waits for it to be released
 * (a remote writer's lock is released when the server ends its stream, a moment after the client saw
 * the commit's result). containerd waits as long as the context lives; we give up after 10 s.
 */
export async function openWriter(cs: ContentStore, opts: WriterOptions): Promise<Writer> {
  const deadline = Date.now() + 10_000;
  let retry = 16;
  for (;;) {
    try {
      return await cs.writer(opts);
    } catch (err) {
      if (!isUnavailable(err) || Date.now() > deadline) throw err;
      await sleep(Math.floor(Math.random() * retry));
      if (retry < 2048) retry <<= 1;
    }
  }
}

/** io.CopyBuffer into a writer: the bytes in writes of at most `chunk` bytes. */
async function writeChunks(w: Writer, data: Uint8Array, chunk: number): Promise<number> {
  let n = 0;
  for (let off = 0; off < data.length; off += chunk) {
    const part = data.subarray(off, Math.min(off + chunk, data.length));
    await w.write(part);
    n += part.length;
  }
  return n;
}

/** A source of bytes for copyFrom, in the shapes content.Copy distinguishes. */
interface Reader {
  /** Up to `max` bytes, or null at the end. */
  read(max: number): Uint8Array | null;
}
interface ReadSeeker extends Reader {
  /** Move to `offset` from the start; returns the new position. */
  seek(offset: number): number;
}
interface ReaderAtReader extends Reader {
  /** Up to `length` bytes at `offset`, fewer at the end. */
  readAt(offset: number, length: number): Uint8Array;
}

/** bytes.Reader: every capability; the cases hand copyFrom a view with only some of them. */
class BytesReader implements ReadSeeker, ReaderAtReader {
  private pos = 0;
  constructor(private readonly data: Uint8Array) {}
  read(max: number): Uint8Array | null {
    if (this.pos >= this.data.length) return null;
    const out = this.data.subarray(this.pos, Math.min(this.pos + max, this.data.length));
    this.pos += out.length;
    return out;
  }
  seek(offset: number): number {
    this.pos = offset;
    return this.pos;
  }
  readAt(offset: number, length: number): Uint8Array {
    return this.data.subarray(Math.min(offset, this.data.length), Math.min(offset + length, this.data.length));
  }
}

const COPY_BUFFER = 32 * 1024;

/** content.seekReader: position the source at the ingest's offset by the best means it offers. */
function seekReader(r: Reader, offset: number, size: number): Reader {
  if ('seek' in r && typeof r.seek === 'function') {
    const n = (r as ReadSeeker).seek(offset);
    if (n !== offset) throw new Error(`failed to seek to offset ${offset}: at ${n}`);
    return r;
  }
  if ('readAt' in r && typeof r.readAt === 'function' && size > offset) {
    // io.NewSectionReader(r, offset, size)
    const ra = r as ReaderAtReader;
    let pos = offset;
    const end = offset + size;
    return {
      read(max) {
        if (pos >= end) return null;
        const out = ra.readAt(pos, Math.min(max, end - pos));
        if (out.length === 0) return null;
        pos += out.length;
        return out;
      },
    };
  }
  let left = offset;
  while (left > 0) {
    const b = r.read(Math.min(left, COPY_BUFFER));
    if (b === null) throw new Error('unable to discard to offset');
    left -= b.length;
  }
  return r;
}

/**
 * content.Copy: continue the ingest from its current offset (the source positioned there by seekReader),
 * then commit; AlreadyExists on commit is success.
 */
async function copyFrom(w: Writer, source: Reader, size: number, expected: string, labels?: Record<string, string>): Promise<void> {
  const ws = await w.status();
  const r = ws.offset > 0 ? seekReader(source, ws.offset, size) : source;
  let copied = 0;
  for (let b = r.read(COPY_BUFFER); b !== null; b = r.read(COPY_BUFFER)) {
    await w.write(b);
    copied += b.length;
  }
  if (size !== 0 && copied < size - ws.offset) throw new Error(`failed to read expected number of bytes: copied ${copied} from offset ${ws.offset} of ${size}`);
  try {
    await w.commit(size, expected, labels ? { labels } : undefined);
  } catch (err) {
    if (!(err instanceof AlreadyExistsError)) throw err;
  }
}

/** content.WriteBlob: AlreadyExists on open or commit means the blob is there, which is success. */
export async function writeBlob(cs: ContentStore, ref: string, data: Uint8Array, desc: { total?: number; expected?: string }): Promise<void> {
  let w: Writer;
  try {
    w = await openWriter(cs, { ref, ...desc });
  } catch (err) {
    if (err instanceof AlreadyExistsError) return;
    throw err;
  }
  try {
    await copyFrom(w, new BytesReader(data), desc.total ?? 0, desc.expected ?? '');
  } finally {
    await w.close().catch(() => undefined); // Go: defer cw.Close(), its error ignored
  }
}

/** content.ReadBlob */
export async function readBlob(cs: ContentStore, digest: string, opts?: { offset?: number; size?: number }): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of cs.read(digest, opts)) chunks.push(c);
  return Buffer.concat(chunks);
}

/**
 * containerd's checkCrossNSShare: ns1 writes a blob; ns2, naming its digest, finds the bytes already there
 * (offset = size) and commits without writing; both namespaces then hold it.
 */
async function checkCrossNamespaceShare(cs1: ContentStore, cs2: ContentStore, prefix: string): Promise<void> {
  const size = 1000;
  const { data: b, digest: d } = createContent(size);
  const ref = `${prefix}-ref-${size}`;
  const t1 = Date.now();
  await writeBlob(cs1, ref, b, { total: size, expected: d });

  const w = await openWriter(cs2, { ref, total: size, expected: d });
  await closing(w, async () => {
    const t2 = Date.now();
    await expectStatus(w, { ref, offset: size, total: size }, d, t1, t2, t1, t2);
    await w.commit(size, d);
    const t3 = Date.now();

    await expectContent(cs1, d, { size }, t1, t3, t1, t3);
    await expectContent(cs2, d, { size }, t1, t3, t1, t3);
  });
}

// --- Ports of the suite's checks ------------------------------------------------------------------------

/** The status the writer reports, then its digest (in that order: a remote writer learns its digest from the status). */
async function expectStatus(
  w: Writer,
  want: { ref: string; offset: number; total: number },
  digest: string,
  preStart: number, postStart: number, preUpdate: number, postUpdate: number,
): Promise<Status> {
  const st = await w.status();
  expect(w.digest(), 'writer digest').toBe(digest);
  expect(st.ref, 'status ref').toBe(want.ref);
  expect(st.offset, 'status offset').toBe(want.offset);
  expect(st.total, 'status total').toBe(want.total);
  // containerd does not check `expected` yet ("once all implementations guarantee this value is held").
  expectWithin('status startedAt', st.startedAt, preStart, postStart);
  expectWithin('status updatedAt', st.updatedAt, preUpdate, postUpdate);
  return st;
}

/** A writer that started a new ingest: nothing written, started in the window. */
async function expectNewlyCreated(w: Writer, _preStart: number, postStart: number, _preUpdate: number, postUpdate: number): Promise<void> {
  const st = await w.status();
  expect(w.digest(), 'writer digest of a new ingest').toBe(EMPTY_DIGEST);
  expect(st.offset, 'offset of a new ingest').toBe(0);
  expectWithin('status startedAt', st.startedAt, postStart, postUpdate);
}

async function expectInfo(
  cs: ContentStore,
  digest: string,
  want: { size: number; labels?: Record<string, string> },
  c1: number, c2: number, u1: number, u2: number,
): Promise<Info> {
  const info = await cs.info(digest);
  expect(info.digest, 'info digest').toBe(digest);
  expect(info.size, 'info size').toBe(want.size);
  expectWithin('info createdAt', info.createdAt, c1, c2);
  expectWithin('info updatedAt', info.updatedAt, u1, u2);
  expect({ ...info.labels }, 'info labels').toEqual(want.labels ?? {});
  return info;
}

/** checkContent: the info, and the bytes read back have the size and the digest. */
async function expectContent(
  cs: ContentStore,
  digest: string,
  want: { size: number },
  c1: number, c2: number, u1: number, u2: number,
): Promise<void> {
  await expectInfo(cs, digest, want, c1, c2, u1, u2);
  const b = await readBlob(cs, digest);
  expect(b.length, 'blob size').toBe(want.size);
  expect(sha256(b), 'blob digest').toBe(digest);
}

/** A second writer on a ref in use is refused with Unavailable (cs.Writer, no waiting). */
async function expectRefNotAvailable(cs: ContentStore, ref: string): Promise<void> {
  let w: Writer | undefined;
  try {
    w = await cs.writer({ ref });
  } catch (err) {
    expect(err).toBeInstanceOf(UnavailableError);
    return;
  }
  await w.close();
  expect.fail(`writer created with ref ${ref}, expected it to be in use`);
}

/** Run `fn`, then close the writer, the close's error ignored (Go's `defer w.Close()`). */
async function closing<T>(w: Writer, fn: (w: Writer) => Promise<T>): Promise<T> {
  try {
    return await fn(w);
  } finally {
    await w.close().catch(() => undefined);
  }
}

// --- The suite ------------------------------------------------------------------------------------------

export function contentSuite(name: string, setup: () => Promise<ContentTarget>): void {
  describe(name, () => {
    let target: ContentTarget | undefined;
    beforeAll(async () => {
      target = await setup();
    });
    afterAll(async () => {
      await target?.cleanup();
    });
    const t = (): ContentTarget => {
      if (!target) throw new Error('content target did not start');
      return target;
    };
    const policy = (): 'shared' | 'isolated' => t().contentSharingPolicy ?? 'shared';

    /**
     * The cross-namespace cases need a store with namespaces (containerd runs them against its metadata
     * store only, and skips them where "multiple contexts are not supported"), and the sharing policy
     * containerd runs each with. Whether the target has them is known only once it has started (setup is
     * async and runs in beforeAll), after vitest has collected the cases: it.runIf/skipIf take their
     * condition at collection, so these cases skip themselves at run time with ctx.skip(condition, why).
     */
    const requireNamespaces = (ctx: TestContext, want: 'shared' | 'isolated'): void => {
      ctx.skip(!t().namespaced, 'the target has no namespaces: cross-namespace cases need the metadata layer');
      ctx.skip(policy() !== want, `containerd runs this case under the "${want}" content sharing policy; the target is "${policy()}"`);
    };

    it('Writer', async () => {
      const cs = t().store();
      const p = 'writer';
      const labels = { 'containerd.io/gc.root': new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
      const c1 = createContent(256);
      const c2 = createContent(256);
      const c3 = createContent(256);
      const c4 = createContent(256);
      // Four ingests open at once: no descriptor, size only, digest only, both.
      const w1 = await openWriter(cs, { ref: `${p}-c1` });
      const w2 = await openWriter(cs, { ref: `${p}-c2`, total: c2.data.length });
      const w3 = await openWriter(cs, { ref: `${p}-c3`, expected: c3.digest });
      const w4 = await openWriter(cs, { ref: `${p}-c4`, total: c4.data.length, expected: c4.digest });
      try {
        for (const s of [
          { content: c1, writer: w1 },
          { content: c2, writer: w2 },
          { content: c3, writer: w3 },
          { content: c4, writer: w4 },
        ]) {
          const n = await writeChunks(s.writer, s.content.data, 32);
          expect(n).toBe(s.content.data.length);

          await tick();
          const preCommit = Date.now();
          await s.writer.commit(0, '', { labels });
          const postCommit = Date.now();

          expect(s.writer.digest(), 'commit digest').toBe(s.content.digest);
          await expectInfo(cs, s.content.digest, { size: s.content.data.length, labels }, preCommit, postCommit, preCommit, postCommit);
        }
      } finally {
        for (const w of [w1, w2, w3, w4]) await w.close().catch(() => undefined);
      }
    });

    it('UpdateStatus', async () => {
      const cs = t().store();
      const ref = 'updatestatus-c1';
      const labels = { 'containerd.io/gc.root': new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
      const { data, digest } = createContent(256);

      const preStart = Date.now();
      const w1 = await openWriter(cs, { ref, total: 256, expected: digest });
      const postStart = Date.now();
      await closing(w1, async () => {
        const expected = { ref, offset: 0, total: 256 };
        // A new ingest was last updated when it started.
        await expectStatus(w1, expected, EMPTY_DIGEST, preStart, postStart, preStart, postStart);

        // Each write moves updatedAt into its own window; startedAt stays.
        for (const [from, to] of [[0, 64], [64, 192], [192, 256]] as const) {
          await tick();
          const preUpdate = Date.now();
          await w1.write(data.subarray(from, to));
          const postUpdate = Date.now();
          await expectStatus(w1, { ...expected, offset: to }, sha256(data.subarray(0, to)), preStart, postStart, preUpdate, postUpdate);
        }

        await tick();
        const preCommit = Date.now();
        await w1.commit(0, '', { labels });
        const postCommit = Date.now();
        await expectInfo(cs, digest, { size: 256, labels }, preCommit, postCommit, preCommit, postCommit);
      });
    });

    it('CommitExists', async () => {
      const cs = t().store();
      const p = 'commitexists';
      const c1 = createContent(256);
      await writeBlob(cs, `${p}-c1`, c1.data, { expected: c1.digest });

      // Writing the same bytes again under another ref: commit says AlreadyExists, with or without the digest.
      for (const [i, expected] of [c1.digest, ''].entries()) {
        const w = await openWriter(cs, { ref: `${p}-c1-commitexists-${i}` });
        let err: unknown;
        try {
          await w.write(c1.data);
          await w.commit(c1.data.length, expected);
        } catch (e) {
          err = e;
        } finally {
          await w.close().catch(() => undefined);
        }
        expect(err, `(${i}) expected an AlreadyExists error`).toBeInstanceOf(AlreadyExistsError);
      }
    });

    it('Resume', async () => {
      const cs = t().store();
      const ref = 'resume-cb';
      const { data: cb, digest } = createContent(256);
      const first = cb.subarray(0, 128);
      const second = cb.subarray(128);

      const preStart = Date.now();
      const w1 = await openWriter(cs, { ref, total: 256, expected: digest });
      const postStart = Date.now();
      await tick();
      let preUpdate = Date.now();
      await w1.write(first);
      let postUpdate = Date.now();

      const dgstFirst = sha256(first);
      const expected = { ref, offset: first.length, total: cb.length };
      await expectStatus(w1, expected, dgstFirst, preStart, postStart, preUpdate, postUpdate);
      await w1.close(); // close first writer: must succeed

      await tick();
      const w2 = await openWriter(cs, { ref, total: 256, expected: digest });
      // The resumed ingest reports what it had before the close: same offset, digest and times.
      await expectStatus(w2, expected, dgstFirst, preStart, postStart, preUpdate, postUpdate);

      await tick();
      preUpdate = Date.now();
      await w2.write(second);
      postUpdate = Date.now();
      await expectStatus(w2, { ...expected, offset: cb.length }, digest, preStart, postStart, preUpdate, postUpdate);

      await tick();
      const preCommit = Date.now();
      await w2.commit(0, '');
      const postCommit = Date.now();

      await w2.close(); // close second writer, after its commit: must succeed
      await expectInfo(cs, digest, { size: 256 }, preCommit, postCommit, preCommit, postCommit);
    });

    type Resume = (w: Writer, b: Buffer, written: number, size: number, digest: string) => Promise<void>;

    /** checkResume: for each size and fraction, write part, close, reopen, check the offset, finish with `rf`. */
    const checkResume = (p: string, rf: Resume) => async () => {
      const cs = t().store();
      const sizes = [500, 5000, 50000];
      const truncations = [0.0, 0.1, 0.5, 0.9, 1.0];
      for (const [i, size] of sizes.entries()) {
        for (const [j, tp] of truncations.entries()) {
          const { data: b, digest } = createContent(size);
          const limit = Math.floor(size * tp);
          const ref = `${p}-ref-${i}-${j}`;
          const what = `size ${size}, ${limit} bytes written before the close`;

          let w = await openWriter(cs, { ref, total: size, expected: digest });
          try {
            await w.write(b.subarray(0, limit));
          } catch (err) {
            await w.close().catch(() => undefined);
            throw err;
          }
          await w.close();

          w = await openWriter(cs, { ref, total: size, expected: digest });
          let st: Status;
          try {
            st = await w.status();
          } catch (err) {
            await w.close().catch(() => undefined);
            throw err;
          }
          if (st.offset !== limit) await w.close().catch(() => undefined);
          expect(st.offset, `resumed offset (${what})`).toBe(limit);

          await tick();
          const preCommit = Date.now();
          await rf(w, b, limit, size, digest);
          const postCommit = Date.now();

          await w.close(); // after the commit: must succeed
          await expectInfo(cs, digest, { size }, preCommit, postCommit, preCommit, postCommit);
        }
      }
    };

    // Throw away what was written and write everything again.
    it('ResumeTruncate', checkResume('resumetruncate', async (w, b, _written, size, digest) => {
      await w.truncate(0);
      await writeChunks(w, b, 1024);
      await w.commit(size, digest);
    }));

    // Write the rest, from where the ingest is.
    it('ResumeDiscard', checkResume('resumediscard', async (w, b, written, size, digest) => {
      await writeChunks(w, b.subarray(written), 1024);
      await w.commit(size, digest);
    }));

    // content.Copy from a plain reader: it reads and drops the bytes the ingest already has.
    it('ResumeCopy', checkResume('resumecopy', async (w, b, _written, size, digest) => {
      const r = new BytesReader(b);
      await copyFrom(w, { read: (n) => r.read(n) }, size, digest);
    }));

    // content.Copy from a seekable reader: it seeks to the ingest's offset.
    it('ResumeCopySeeker', checkResume('resumecopyseeker', async (w, b, _written, size, digest) => {
      const r = new BytesReader(b);
      const seeker: ReadSeeker = { read: (n) => r.read(n), seek: (o) => r.seek(o) };
      await copyFrom(w, seeker, size, digest);
    }));

    // content.Copy from a ReaderAt: it reads the section from the ingest's offset.
    it('ResumeCopyReaderAt', checkResume('resumecopyreaderat', async (w, b, _written, size, digest) => {
      const r = new BytesReader(b);
      const readerAt: ReaderAtReader = { read: (n) => r.read(n), readAt: (o, n) => r.readAt(o, n) };
      await copyFrom(w, readerAt, size, digest);
    }));

    // Reading a blob with a read size larger than the blob gives the blob.
    it('SmallBlob', async () => {
      const cs = t().store();
      const blob = Buffer.from('foobar');
      const blobSize = blob.length;
      const blobDigest = sha256(blob);
      const w = await cs.writer({ ref: 'smallblob-SmallBlob', total: blobSize, expected: blobDigest });
      await w.write(blob);
      await w.commit(blobSize, blobDigest);
      await w.close();

      const b = await readBlob(cs, blobDigest, { offset: 0, size: blobSize + 1 });
      expect(sha256(b), `expected ${JSON.stringify(blob.toString())}, got ${JSON.stringify(b.toString())}`).toBe(blobDigest);
    });

    it('Labels', async () => {
      const cs = t().store();
      const { data, digest } = createContent(256);
      const w1 = await openWriter(cs, { ref: 'labels-c1-checklabels', total: 256, expected: digest });
      await closing(w1, async () => {
        await w1.write(data);

        const rootTime = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
        let labels: Record<string, string> = { k1: 'v1', k2: 'v2', 'containerd.io/gc.root': rootTime };

        await tick();
        const preCommit = Date.now();
        await w1.commit(0, '', { labels });
        const postCommit = Date.now();
        await expectInfo(cs, digest, { size: 256, labels }, preCommit, postCommit, preCommit, postCommit);

        // No field paths: the labels are replaced as a whole.
        labels = { k1: 'newvalue', k3: 'v3', 'containerd.io/gc.root': rootTime };
        await tick();
        let preUpdate = Date.now();
        await cs.update({ digest, labels });
        let postUpdate = Date.now();
        await expectInfo(cs, digest, { size: 256, labels }, preCommit, postCommit, preUpdate, postUpdate);

        // labels.<key> paths: k3 (absent from the new labels) is removed, k1 set; the rest stay.
        labels = { k1: 'v1', 'containerd.io/gc.root': rootTime };
        await tick();
        preUpdate = Date.now();
        await cs.update({ digest, labels }, ['labels.k3', 'labels.k1']);
        postUpdate = Date.now();
        await expectInfo(cs, digest, { size: 256, labels }, preCommit, postCommit, preUpdate, postUpdate);
      });
    });

    it('CommitErrorState', async () => {
      const cs = t().store();
      const c1 = createContent(256);
      const d2 = createContent(256).digest;
      await writeBlob(cs, 'commiterrorstate-c1', c1.data, { expected: c1.digest });
      const size = c1.data.length;
      const ref = 'commiterrorstate-c1-commiterror-state';

      let w = await openWriter(cs, { ref });
      await w.write(c1.data);
      await expectRefNotAvailable(cs, ref);
      // The bytes exist already: AlreadyExists. The failed commit releases the ref (no close here, as in
      // containerd) and drops the ingest.
      await expect(w.commit(size, c1.digest)).rejects.toBeInstanceOf(AlreadyExistsError);

      w = await openWriter(cs, { ref });
      await expectRefNotAvailable(cs, ref);
      await w.write(c1.data);
      // AlreadyExists without a digest to compare, too: found from what was written.
      await expect(w.commit(size, '')).rejects.toBeInstanceOf(AlreadyExistsError);
      await w.close();

      w = await openWriter(cs, { ref });
      await expectRefNotAvailable(cs, ref);
      await w.write(Buffer.concat([c1.data, Buffer.from('more')]));
      // The wrong digest: FailedPrecondition, and the ingest keeps its bytes.
      await expect(w.commit(size + 4, d2)).rejects.toBeInstanceOf(FailedPreconditionError);
      await w.close();

      w = await openWriter(cs, { ref });
      await expectRefNotAvailable(cs, ref);
      // The wrong size: FailedPrecondition (the ingest resumed holds size + 4 bytes).
      await expect(w.commit(size, '')).rejects.toBeInstanceOf(FailedPreconditionError);
      await w.close();

      w = await openWriter(cs, { ref });
      await expectRefNotAvailable(cs, ref);
      // Now the commit succeeds, from the bytes kept across the failed commits.
      await w.commit(size + 4, '');
      await w.close();

      // The ref is free again, for a new ingest.
      w = await openWriter(cs, { ref });
      await w.write(c1.data);
      await expectRefNotAvailable(cs, ref);
      await expect(w.commit(size, c1.digest)).rejects.toBeInstanceOf(AlreadyExistsError);
      await w.close();

      w = await openWriter(cs, { ref });
      await expectRefNotAvailable(cs, ref);
      await w.close();

      // Available again after the close.
      w = await openWriter(cs, { ref });
      await w.close();
    });

    // Cross-namespace cases. containerd's wrapper gives each new context its own namespace; here they are
    // `<case>-ns1` and `<case>-ns2`, fresh for each case.

    // Under the shared policy a namespace takes a blob another holds by naming it, then appends to it.
    it('CrossNamespaceAppend', async (ctx) => {
      requireNamespaces(ctx, 'shared');
      const cs1 = t().store('crossnamespaceappend-ns1');
      const cs2 = t().store('crossnamespaceappend-ns2');
      const size = 1000;
      const { data: b, digest: d } = createContent(size);
      const ref = `crossnamespaceappend-ref-${size}`;
      const t1 = Date.now();
      await writeBlob(cs1, ref, b, { total: size, expected: d });

      const extra = Buffer.from('appended bytes');
      const size2 = size + extra.length;
      const b2 = Buffer.concat([b, extra]);
      const d2 = sha256(b2);

      const w = await openWriter(cs2, { ref, total: size, expected: d });
      await closing(w, async () => {
        const t2 = Date.now();
        // The new ingest starts with the shared blob's bytes.
        await expectStatus(w, { ref, offset: size, total: size }, d, t1, t2, t1, t2);
        await w.write(extra);
        await w.commit(size2, d2);
        const t3 = Date.now();

        await expectContent(cs1, d, { size }, t1, t3, t1, t3);
        await expectContent(cs2, d2, { size: size2 }, t1, t3, t1, t3);
      });
    });

    // Under the shared policy a namespace takes a blob another holds by naming it, without the bytes.
    it('CrossNamespaceShare', async (ctx) => {
      requireNamespaces(ctx, 'shared');
      await checkCrossNamespaceShare(t().store('crossnamespaceshare-ns1'), t().store('crossnamespaceshare-ns2'), 'crossnamespaceshare');
    });

    // Under the isolated policy naming a blob another namespace holds gives a new, empty ingest.
    it('CrossNamespaceIsolate', async (ctx) => {
      requireNamespaces(ctx, 'isolated');
      const cs1 = t().store('crossnamespaceisolate-ns1');
      const cs2 = t().store('crossnamespaceisolate-ns2');
      const size = 1000;
      const { data: b, digest: d } = createContent(size);
      const ref = `crossnamespaceisolate-ref-${size}`;
      const t1 = Date.now();
      await writeBlob(cs1, ref, b, { total: size, expected: d });
      await tick(); // so that ns1's ingest started before t2: ns2 must not have taken it over
      const t2 = Date.now();
      const t3 = Date.now();
      const w = await openWriter(cs2, { ref, total: size, expected: d });
      await closing(w, async () => {
        const t4 = Date.now();
        await expectNewlyCreated(w, t1, t2, t3, t4);
      });
    });

    // Under the isolated policy a blob held by a namespace labelled shareable is still taken by name.
    it('SharedNamespaceIsolate', async (ctx) => {
      requireNamespaces(ctx, 'isolated');
      const target = t();
      ctx.skip(!target.setNamespaceLabels, 'the target cannot label namespaces');
      const ns1 = 'sharednamespaceisolate-ns1';
      await target.setNamespaceLabels!(ns1, { [SHAREABLE]: 'true' });
      await checkCrossNamespaceShare(target.store(ns1), target.store('sharednamespaceisolate-ns2'), 'sharednamespaceisolate');
    });
  });
}
