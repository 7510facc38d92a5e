import type { WriteContentResponse } from '@flotilla/proto/containerd/services/content/v1/content_pb';
import type { PlainWrite, WriteRequestInit } from './write-request-codec.js';

/**
 * One Write call as the proxy writer drives it: requests out, one response back for each. Two carry it:
 * gRPC's client (grpc-write-transport.ts) for any channel, and a bare HTTP/2 stream on a Unix socket
 * (h2-write-transport.ts), which sends the bytes without copying them.
 */
export interface WriteTransport {
  /**
   * Queue a request; `write` is the hot WRITE message, `request` any other. With `last`, it ends the
   * request stream too, as `end()` after it would, but in the same frame: a COMMIT is always the last
   * request, and a separate end (or the reset a stream still open on our side gets when the server ends)
   * is one more frame and one more wake-up of the server per ingest.
   */
  send(req: { readonly write: PlainWrite } | { readonly request: WriteRequestInit }, last?: boolean): void;
  /**
   * The next response; undefined when the server ended the call cleanly. A failed call throws its error
   * as an errdefs class, here and on every later call.
   */
  next(): Promise<WriteContentResponse | undefined>;
  /** No more requests: the server sees the end of the stream. */
  end(): void;
}
