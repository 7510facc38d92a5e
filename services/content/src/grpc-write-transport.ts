import type { MessageInitShape } from '@bufbuild/protobuf';
import type { CallOptions } from 'nice-grpc';
import type { Content, WriteContentRequestSchema } from '@flotilla/proto/containerd/services/content/v1/content_pb';
import type { ShapeOf } from '@flotilla/rpc';
import type { ServiceClient } from '@flotilla/rpc/client';
import { createAsyncQueue } from './async-queue.js';
import { encodePlainWrite, type EncodedWriteRequest, type WriteRequestInit } from './write-request-codec.js';
import type { WriteTransport } from './write-transport.js';
import { writeDataLength } from './write-data.js';

export type ContentClient = ServiceClient<ShapeOf<typeof Content>>;

/**
 * A Write call through the gRPC client: an async queue feeds the request stream. The client's Write
 * serializer takes pre-encoded requests (see proxy.ts): a WRITE is encoded into a buffer this call
 * reuses. That is safe because the writer has one request in flight at a time and gRPC has copied a
 * message into its frame before the server can answer it.
 */
export function grpcWriteTransport(client: ContentClient, call: CallOptions): WriteTransport {
  const queue = createAsyncQueue<WriteRequestInit | EncodedWriteRequest>();
  // The serializer accepts both shapes; the generated client type knows only the first.
  const requests = queue as AsyncIterable<MessageInitShape<typeof WriteContentRequestSchema>>;
  const responses = client.write(requests, call)[Symbol.asyncIterator]();
  let scratch: Buffer | undefined;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    queue.end();
  };
  return {
    send(req, last) {
      if (ended) return;
      if ('write' in req) {
        const size = writeDataLength(req.write.data) + 32; // the data and room for the tags and varints around it
        if (scratch === undefined || scratch.length < size) scratch = Buffer.allocUnsafe(size);
        queue.push({ encoded: encodePlainWrite(req.write, scratch) });
      } else {
        queue.push(req.request);
      }
      if (last === true) end();
    },
    async next() {
      try {
        const r = await responses.next();
        return r.done ? undefined : r.value;
      } catch (err) {
        end();
        throw err;
      }
    },
    end,
  };
}

