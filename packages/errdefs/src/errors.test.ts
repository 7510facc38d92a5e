import { describe, expect, it } from 'vitest';
import { ClientError, Status } from 'nice-grpc-common';
import {
  AlreadyExistsError,
  ConflictError,
  FailedPreconditionError,
  NotFoundError,
  UnavailableError,
  errorClasses,
  fromGrpcError,
  kindOf,
  toGrpcError,
} from './index.js';

describe('errdefs', () => {
  it('appends the kind the way containerd does, once', () => {
    expect(new AlreadyExistsError('namespace "a"').message).toBe('namespace "a": already exists');
    expect(new NotFoundError('x: not found').message).toBe('x: not found');
  });

  it('round-trips every kind through a gRPC status', () => {
    for (const [kind, cls] of Object.entries(errorClasses)) {
      if (kind === 'Conflict') continue; // containerd sends Conflict as FailedPrecondition
      const server = toGrpcError(new cls('boom'));
      const back = fromGrpcError(new ClientError('/x.Y/Z', server.code, server.details));
      expect(back).toBeInstanceOf(cls);
      expect(kindOf(back)).toBe(kind);
    }
  });

  it('maps conflict to FailedPrecondition and unknown errors to UNKNOWN', () => {
    expect(toGrpcError(new ConflictError('c')).code).toBe(Status.FAILED_PRECONDITION);
    expect(toGrpcError(new TypeError('t')).code).toBe(Status.UNKNOWN);
    expect(fromGrpcError(new ClientError('/x', Status.FAILED_PRECONDITION, 'p'))).toBeInstanceOf(FailedPreconditionError);
    expect(fromGrpcError(new ClientError('/x', Status.UNAVAILABLE, 'u'))).toBeInstanceOf(UnavailableError);
  });

  it('keeps non-gRPC errors as they are on the client side', () => {
    const e = new RangeError('r');
    expect(fromGrpcError(e)).toBe(e);
  });
});
