import { create, isMessage, type MessageInitShape } from '@bufbuild/protobuf';
import type { Timestamp } from '@bufbuild/protobuf/wkt';
import {
  Content,
  InfoResponseSchema,
  ListContentResponseSchema,
  ListStatusesResponseSchema,
  ReadContentResponseSchema,
  StatusResponseSchema,
  UpdateResponseSchema,
  WriteAction,
  WriteContentResponseSchema,
  type Info as ProtoInfo,
  type WriteContentResponse,
} from '@flotilla/proto/containerd/services/content/v1/content_pb';
import { AlreadyExistsError, InvalidArgumentError, OutOfRangeError } from '@flotilla/errdefs';
import { definitionOf, type Implementation, type PartsDeserializer, type RpcServer, type ServerCallContext } from '@flotilla/rpc';
import type { GrpcService } from '@flotilla/plugin';
import { infoFromProto, infoToProto, labelsFromProto, statusToProto, toTimestamp } from './convert.js';
import { digestProblem } from './digest.js';
import type { ContentStore } from './store.js';
import { writeDataLength } from './write-data.js';
import { decodeWriteRequestParts, type IncomingWriteRequest } from './write-request-decoder.js';
import { encodeWriteResponse } from './write-response-codec.js';

/** containerd's contentserver sends List in blocks of this many. */
const LIST_BATCH = 100;

/** containerd's server rejects a malformed digest before the store sees it, each method in its own words. */
function requireDigest(digest: string, message: (problem: string) => string): void {
  const problem = digestProblem(digest);
  if (problem !== undefined) throw new InvalidArgumentError(message(problem));
}

/**
 * Content's definition with Write's requests decoded from the pieces they arrive in (our server supports
 * it): the data stays in the socket's chunks and is passed to the writer as they are. Write's responses,
 * one per request, are encoded by hand (write-response-codec.ts).
 */
const base = definitionOf(Content);
const definition = {
  ...base,
  write: {
    ...base.write,
    requestDeserializeParts: (parts: readonly Uint8Array[]) => decodeWriteRequestParts(parts),
    responseSerialize: (r: MessageInitShape<typeof WriteContentResponseSchema>) =>
      encodeWriteResponse(isMessage(r, WriteContentResponseSchema) ? r : create(WriteContentResponseSchema, r)),
  },
} satisfies Record<'write', PartsDeserializer<IncomingWriteRequest>> & typeof base;

/**
 * containerd.services.content.v1.Content over whatever ContentStore `resolve` gives for a call: the
 * content process's own store (it ignores namespaces), or the gateway's per-namespace one. It converts and
 * delegates; errors are errdefs classes and reach the client as their gRPC codes.
 */
export function contentService(resolve: (ctx: ServerCallContext) => ContentStore): GrpcService {
  const impl: Implementation<typeof Content> = {
    async info(req, ctx) {
      requireDigest(req.digest, () => `${JSON.stringify(req.digest)} failed validation`);
      return create(InfoResponseSchema, { info: infoToProto(await resolve(ctx).info(req.digest)) });
    },

    async update(req, ctx) {
      const info: ProtoInfo | undefined = req.info;
      const digest = info?.digest ?? '';
      requireDigest(digest, () => `${JSON.stringify(digest)} failed validation`);
      const updated = await resolve(ctx).update(infoFromProto(info), req.updateMask?.paths ?? []);
      return create(UpdateResponseSchema, { info: infoToProto(updated) });
    },

    async *list(req, ctx) {
      let block: ProtoInfo[] = [];
      for await (const info of resolve(ctx).list(req.filters)) {
        block.push(infoToProto(info));
        if (block.length >= LIST_BATCH) {
          yield create(ListContentResponseSchema, { info: block });
          block = [];
        }
      }
      if (block.length > 0) yield create(ListContentResponseSchema, { info: block });
    },

    async delete(req, ctx) {
      requireDigest(req.digest, (problem) => problem);
      await resolve(ctx).delete(req.digest);
      return {};
    },

    async *read(req, ctx) {
      requireDigest(req.digest, (problem) => `${req.digest}: ${problem}`);
      // A negative offset reads from the start; size <= 0 reads to the end (the store clamps both).
      let offset = req.offset < 0n ? 0 : Number(req.offset);
      for await (const data of resolve(ctx).read(req.digest, { offset, size: Number(req.size) })) {
        yield create(ReadContentResponseSchema, { offset: BigInt(offset), data });
        offset += data.length;
      }
    },

    async status(req, ctx) {
      return create(StatusResponseSchema, { status: statusToProto(await resolve(ctx).status(req.ref)) });
    },

    async listStatuses(req, ctx) {
      const statuses = await resolve(ctx).listStatuses(req.filters);
      return create(ListStatusesResponseSchema, { statuses: statuses.map(statusToProto) });
    },

    async abort(req, ctx) {
      await resolve(ctx).abort(req.ref);
      return {};
    },

    write: (requests, ctx) => writeSession(resolve(ctx), requests, ctx),
  };
  return { name: Content.typeName, register: (server: RpcServer) => server.add(definition, impl) };
}

/**
 * One Write stream, as containerd's contentserver runs it: the first message names the ref (and may
 * announce total and expected) and opens the writer, which stays locked for the session; every request
 * gets exactly one response echoing its action with the offset after it and the digest so far. STAT
 * reports status; WRITE and COMMIT append at the current offset (a non-zero offset elsewhere is
 * OutOfRange; offset 0 on a non-empty ingest starts it over); COMMIT verifies and publishes, and ends
 * the session. The writer is closed however the stream ends, so the ingest can be resumed.
 *
 * The session keeps the offset itself rather than asking the writer on every message: it is the writer's
 * only user while it holds the ref, and behind the gateway each status is a round trip.
 */
async function* writeSession(
  store: ContentStore,
  requests: AsyncIterable<IncomingWriteRequest>,
  ctx: ServerCallContext,
): AsyncGenerator<WriteContentResponse> {
  const it = requests[Symbol.asyncIterator]();
  let next = await it.next();
  if (next.done) return;
  let req = next.value;
  const ref = req.ref;
  if (ref === '') throw new InvalidArgumentError('first message must have a reference');
  let total = Number(req.total);
  let expected = req.expected;
  const wr = await store.writer({ ref, total, expected });
  try {
    let offset = (await wr.status()).offset;
    // containerd reuses one response message, so a WRITE's response still carries what the last STAT set.
    let startedAt: Timestamp | undefined;
    let updatedAt: Timestamp | undefined;
    let respTotal = 0n;
    let digest = '';
    // The store's writer refused a blob that exists already when it was opened with this digest: the first
    // request need not ask again (a round of errors thrown and caught on every ingest, behind the gateway).
    let checked = expected;
    for (;;) {
      let respOffset = offset;
      if (req.expected !== '' && req.expected !== checked) {
        expected = req.expected;
        const exists = await store.info(req.expected).then(() => true, () => false);
        if (exists) {
          await wr.close().catch((err: unknown) => ctx.log.error({ ref, err }, 'failed to close writer'));
          await store.abort(ref).catch((err: unknown) => ctx.log.error({ ref, err }, 'failed to abort write'));
          throw new AlreadyExistsError(`blob with expected digest ${req.expected} exists`);
        }
      }
      // A total seen on any message (negotiation or commit) becomes the one commit checks.
      if (req.total > 0n) total = Number(req.total);

      switch (req.action) {
        case WriteAction.STAT: {
          const ws = await wr.status();
          offset = respOffset = ws.offset;
          digest = wr.digest();
          startedAt = toTimestamp(ws.startedAt);
          updatedAt = toTimestamp(ws.updatedAt);
          respTotal = BigInt(total);
          break;
        }
        case WriteAction.WRITE:
        case WriteAction.COMMIT: {
          const at = Number(req.offset);
          if (at > 0 && at !== offset) throw new OutOfRangeError(`write @${at} must occur at current offset ${offset}`);
          if (at === 0 && offset > 0) {
            await wr.truncate(0);
            offset = respOffset = 0;
          }
          const length = writeDataLength(req.data);
          if (length > 0) {
            await wr.write(req.data);
            offset = respOffset = offset + length;
          }
          if (req.action === WriteAction.COMMIT) {
            const labels = labelsFromProto(req.labels);
            await wr.commit(total, expected, labels !== undefined ? { labels } : undefined);
          }
          digest = wr.digest();
          break;
        }
        default:
          // containerd answers an unknown action with a bare status message; so do we.
          break;
      }
      yield create(WriteContentResponseSchema, {
        action: req.action,
        offset: BigInt(respOffset),
        total: respTotal,
        digest,
        startedAt,
        updatedAt,
      });
      if (req.action === WriteAction.COMMIT) return;
      checked = '';
      next = await it.next();
      if (next.done) return;
      req = next.value;
    }
  } finally {
    await wr.close().catch((err: unknown) => ctx.log.error({ ref, err }, 'failed to close writer'));
  }
}
