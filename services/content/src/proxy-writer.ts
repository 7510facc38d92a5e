import { WriteAction, type WriteContentResponse } from '@flotilla/proto/containerd/services/content/v1/content_pb';
import { DataLossError, FailedPreconditionError, UnavailableError } from '@flotilla/errdefs';
import { fromTimestamp } from './convert.js';
import type { WriteRequestInit } from './write-request-codec.js';
import type { Status, Writer, WriterOptions } from './store.js';
import type { WriteTransport } from './write-transport.js';
import { writeDataLength } from './write-data.js';

/**
 * A Writer over one Write call (containerd's proxy remoteWriter): each method sends one request and
 * reads its one response. Opening sends a STAT with the ref, which locks it on the server and tells the
 * offset an earlier writer left, so writing resumes there. Close ends the request stream and waits for the
 * server to finish, so the ref is free again when it returns.
 *
 * With `localStatus`, status is answered here, from that first STAT and the answers to every WRITE
 * since, instead of with another round trip: while the call holds the ref nothing else changes the ingest.
 * Only for a server whose every WRITE answer carries the exact offset and digest, as the content process's
 * and containerd's do; the gateway answers WRITEs before the bytes reach the content process, so its
 * digests are settled only by a STAT. Behind the gateway a client's write asks for its status several
 * times (opening, its own STATs, before committing), and each round trip to a content process busy with
 * other ingests cost milliseconds.
 */
export async function openRemoteWriter(transport: WriteTransport, opts: WriterOptions, window = 1, localStatus = false): Promise<Writer> {
  const { ref } = opts;
  let open = true;
  let offset = 0;
  let digest = '';
  /** When the server last took bytes: the first STAT's, then the time each WRITE was answered. */
  let updatedAt = new Date();
  /** Offsets the server must report for the WRITEs sent and not yet answered, oldest first. */
  const unanswered: { at: number; end: number }[] = [];

  const fail = (err: unknown): never => {
    open = false;
    unanswered.length = 0;
    transport.end();
    throw err;
  };

  /** Read the answer to the oldest unanswered WRITE and check that it wrote everything. */
  async function settleOne(): Promise<void> {
    const { at, end } = unanswered.shift()!;
    let resp: WriteContentResponse | undefined;
    try {
      resp = await transport.next();
    } catch (err) {
      fail(err);
    }
    if (resp === undefined) fail(new UnavailableError(`write stream for ref ${ref} ended without a response`));
    if (resp!.digest !== '') digest = resp!.digest;
    const got = Number(resp!.offset);
    if (got !== end) fail(new DataLossError(`short write: ${got - at} of ${end - at} bytes written`));
    updatedAt = new Date();
  }

  async function settleAll(): Promise<void> {
    while (unanswered.length > 0) await settleOne();
  }

  /**
   * One request and its answer. Every request is answered in order after the WRITEs before it; `last`
   * (a COMMIT, which needs every byte written anyway and ends the call) sends it at once, right behind
   * them, instead of after their answers, so the server goes on to it without waiting for a round trip,
   * and ends the request stream with it.
   */
  async function roundTrip(req: { readonly write: { offset: number; data: Uint8Array } } | { readonly request: WriteRequestInit }, last = false): Promise<WriteContentResponse> {
    if (!open) throw new FailedPreconditionError(`writer for ref ${ref} is closed`);
    if (last) transport.send(req, true);
    await settleAll();
    if (!last) transport.send(req);
    let resp: WriteContentResponse | undefined;
    try {
      resp = await transport.next();
    } catch (err) {
      // The call is over: nothing more can be sent on it.
      open = false;
      transport.end();
      throw err;
    }
    if (resp === undefined) {
      open = false;
      transport.end();
      throw new UnavailableError(`write stream for ref ${ref} ended without a response`);
    }
    if (resp.digest !== '') digest = resp.digest;
    return resp;
  }

  async function close(): Promise<void> {
    open = false;
    unanswered.length = 0;
    transport.end();
    try {
      // containerd's server sends one more message after COMMIT; read to the end of the call.
      while ((await transport.next()) !== undefined) { /* drain */ }
    } catch {
      // The call failed after our last request; there is no one left to tell.
    }
  }

  let first: WriteContentResponse;
  try {
    first = await roundTrip({ request: { action: WriteAction.STAT, ref, total: BigInt(opts.total ?? 0), expected: opts.expected ?? '' } });
  } catch (err) {
    await close();
    throw err;
  }
  offset = Number(first.offset);
  updatedAt = fromTimestamp(first.updatedAt);
  const total = Number(first.total);
  const startedAt = fromTimestamp(first.startedAt);

  return {
    ref,
    async status(): Promise<Status> {
      if (localStatus) {
        if (!open) throw new FailedPreconditionError(`writer for ref ${ref} is closed`);
        await settleAll();
        return { ref, offset, total, expected: '', startedAt, updatedAt };
      }
      const resp = await roundTrip({ request: { action: WriteAction.STAT } });
      return {
        ref,
        offset: Number(resp.offset),
        total: Number(resp.total),
        expected: '',
        startedAt: fromTimestamp(resp.startedAt),
        updatedAt: fromTimestamp(resp.updatedAt),
      };
    },
    // What the server confirmed: exact after status() or commit(), which settle every write first.
    digest: () => digest,
    async write(data) {
      if (!open) throw new FailedPreconditionError(`writer for ref ${ref} is closed`);
      const at = offset;
      transport.send({ write: { offset: at, data } });
      offset = at + writeDataLength(data);
      unanswered.push({ at, end: offset });
      if (unanswered.length >= window) await settleOne();
    },
    async truncate(size) {
      // Checked by the server on the next write: offset 0 starts the ingest over there.
      offset = size;
    },
    async commit(size, expected, copts) {
      try {
        const resp = await roundTrip({
          request: {
            action: WriteAction.COMMIT,
            total: BigInt(size),
            offset: BigInt(offset),
            expected,
            labels: copts?.labels ? { ...copts.labels } : {},
          },
        }, true);
        const committed = Number(resp.offset);
        if (size !== 0 && committed !== size) throw new FailedPreconditionError(`unexpected size: ${committed} != ${size}`);
        if (expected !== '' && resp.digest !== expected) throw new FailedPreconditionError(`unexpected digest: ${resp.digest} != ${expected}`);
        digest = resp.digest;
        offset = committed;
      } finally {
        await close();
      }
    },
    close,
  };
}
