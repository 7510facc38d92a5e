import { WriteAction, type WriteContentResponse } from '@flotilla/proto/containerd/services/content/v1/content_pb';
import { DataLossError, FailedPreconditionError, UnavailableError } from '@flotilla/errdefs';
import { fromTimestamp } from './convert.js';
import type { WriteRequestInit } from './write-request-codec.js';
import type { Status, Writer, WriterOptions } from './store.js';
import type { WriteTransport } from './write-transport.js';

/**
 * A Writer over one Write call (containerd's proxy remoteWriter): each method sends one request and
 * reads its one response. Opening sends a STAT with the ref, which locks it on the server and tells the
 * offset an earlier writer left, so writing resumes there. Close ends the request stream and waits for the
 * server to finish, so the ref is free again when it returns.
 */
export async function openRemoteWriter(transport: WriteTransport, opts: WriterOptions): Promise<Writer> {
  const { ref } = opts;
  let open = true;
  let offset = 0;
  let digest = '';

  async function roundTrip(req: { readonly write: { offset: number; data: Uint8Array } } | { readonly request: WriteRequestInit }): Promise<WriteContentResponse> {
    if (!open) throw new FailedPreconditionError(`writer for ref ${ref} is closed`);
    transport.send(req);
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
    transport.end();
    try {
      // containerd's server sends one more message after COMMIT; read to the end of the call.
      while ((await transport.next()) !== undefined) { /* drain */ }
    } catch {
      // The call failed after our last request; there is no one left to tell.
    }
  }

  try {
    const first = await roundTrip({ request: { action: WriteAction.STAT, ref, total: BigInt(opts.total ?? 0), expected: opts.expected ?? '' } });
    offset = Number(first.offset);
  } catch (err) {
    await close();
    throw err;
  }

  return {
    ref,
    async status(): Promise<Status> {
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
    digest: () => digest,
    async write(data) {
      const at = offset;
      const resp = await roundTrip({ write: { offset: at, data } });
      const n = Number(resp.offset) - at;
      offset = at + n;
      if (n < data.length) throw new DataLossError(`short write: ${n} of ${data.length} bytes written`);
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
        });
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
