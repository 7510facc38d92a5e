import { create } from '@bufbuild/protobuf';
import { ClientError, type Status as GrpcCode } from 'nice-grpc-common';
import { fromGrpcError, grpcCodeOf, kindOf, type ErrdefsError, type ErrorKind } from '@flotilla/errdefs';
import { StatusSchema, type Status } from '@flotilla/proto/google/rpc/status_pb';

/** ttrpc answers with google.rpc.Status and gRPC's code numbers; 0 is success. */
export const OK = 0;

/** Success, as ttrpc's Go server sends it: a status present with code 0. */
export function okStatus(): Status {
  return create(StatusSchema, { code: OK });
}

/** What a handler's failure looks like on the wire: containerd's code for its errdefs kind. */
export function statusOf(err: unknown): Status {
  return create(StatusSchema, {
    code: grpcCodeOf(kindOf(err)),
    message: err instanceof Error ? err.message : String(err),
  });
}

/** A status with a given kind, for the protocol's own refusals (bad stream ids, unknown methods). */
export function statusWith(kind: ErrorKind, message: string): Status {
  return create(StatusSchema, { code: grpcCodeOf(kind), message });
}

/**
 * A failed call as the errdefs class for its code, as containerd's errgrpc.ToNative reads a status: the
 * same mapping gRPC clients use, so callers test classes whichever transport the error crossed.
 */
export function errorOf(status: Status, fullMethod: string): ErrdefsError {
  return fromGrpcError(new ClientError(fullMethod, status.code as GrpcCode, status.message)) as ErrdefsError;
}
