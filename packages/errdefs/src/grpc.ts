import { ClientError, ServerError, Status } from 'nice-grpc-common';
import { type ErrorKind, errorClasses, type ErrdefsError, isErrdefs, kindOf } from './errors.js';

/** errdefs kind → the gRPC code containerd's errgrpc.ToGRPC gives it. */
const toCode: Record<ErrorKind, Status> = {
  InvalidArgument: Status.INVALID_ARGUMENT,
  NotFound: Status.NOT_FOUND,
  AlreadyExists: Status.ALREADY_EXISTS,
  FailedPrecondition: Status.FAILED_PRECONDITION,
  Conflict: Status.FAILED_PRECONDITION,
  Unavailable: Status.UNAVAILABLE,
  NotImplemented: Status.UNIMPLEMENTED,
  Canceled: Status.CANCELLED,
  DeadlineExceeded: Status.DEADLINE_EXCEEDED,
  PermissionDenied: Status.PERMISSION_DENIED,
  ResourceExhausted: Status.RESOURCE_EXHAUSTED,
  Aborted: Status.ABORTED,
  OutOfRange: Status.OUT_OF_RANGE,
  DataLoss: Status.DATA_LOSS,
  Unauthenticated: Status.UNAUTHENTICATED,
  Internal: Status.INTERNAL,
  Unknown: Status.UNKNOWN,
};

/** gRPC code → errdefs kind, as containerd's errgrpc.ToNative reads it. */
const fromCode: Partial<Record<Status, ErrorKind>> = {
  [Status.INVALID_ARGUMENT]: 'InvalidArgument',
  [Status.NOT_FOUND]: 'NotFound',
  [Status.ALREADY_EXISTS]: 'AlreadyExists',
  [Status.FAILED_PRECONDITION]: 'FailedPrecondition',
  [Status.UNAVAILABLE]: 'Unavailable',
  [Status.UNIMPLEMENTED]: 'NotImplemented',
  [Status.CANCELLED]: 'Canceled',
  [Status.DEADLINE_EXCEEDED]: 'DeadlineExceeded',
  [Status.PERMISSION_DENIED]: 'PermissionDenied',
  [Status.RESOURCE_EXHAUSTED]: 'ResourceExhausted',
  [Status.ABORTED]: 'Aborted',
  [Status.OUT_OF_RANGE]: 'OutOfRange',
  [Status.DATA_LOSS]: 'DataLoss',
  [Status.UNAUTHENTICATED]: 'Unauthenticated',
  [Status.INTERNAL]: 'Internal',
};

export function grpcCodeOf(kind: ErrorKind): Status {
  return toCode[kind];
}

/** Server boundary: any thrown value becomes a ServerError with containerd's code for its kind. */
export function toGrpcError(err: unknown): ServerError {
  if (err instanceof ServerError) return err;
  if (isErrdefs(err)) return new ServerError(toCode[err.kind], err.message);
  const kind = kindOf(err);
  const message = err instanceof Error ? err.message : String(err);
  return new ServerError(toCode[kind], message);
}

/** Client boundary: a failed call becomes the errdefs class for its code; other values pass through. */
export function fromGrpcError(err: unknown): unknown {
  if (!(err instanceof ClientError)) return err;
  const kind = fromCode[err.code] ?? 'Unknown';
  const native: ErrdefsError = new errorClasses[kind](err.details, { cause: err });
  return native;
}
