/**
 * The closed set of errors every Flotilla package raises. Domain code throws these; only gRPC servers turn
 * them into status codes and only proxy clients turn status codes back into them, so callers on either
 * side of a socket test `instanceof NotFoundError`, never a message.
 *
 * The set mirrors containerd's errdefs (github.com/containerd/errdefs) so that a status produced here means
 * to ctr exactly what containerd's would.
 */

/** Names of the error kinds, one per class below. */
export type ErrorKind =
  | 'InvalidArgument'
  | 'NotFound'
  | 'AlreadyExists'
  | 'FailedPrecondition'
  | 'Conflict'
  | 'Unavailable'
  | 'NotImplemented'
  | 'Canceled'
  | 'DeadlineExceeded'
  | 'PermissionDenied'
  | 'ResourceExhausted'
  | 'Aborted'
  | 'OutOfRange'
  | 'DataLoss'
  | 'Unauthenticated'
  | 'Internal'
  | 'Unknown';

export interface ErrdefsError extends Error {
  readonly kind: ErrorKind;
}

export interface ErrdefsErrorClass {
  new (message: string, options?: ErrorOptions): ErrdefsError;
  readonly kind: ErrorKind;
}

/**
 * containerd appends the kind to every message ("namespace foo: already exists"); keep that shape so the text
 * ctr prints matches. A message that already ends with the suffix (relayed from another process) is kept as is.
 */
const suffix: Record<ErrorKind, string> = {
  InvalidArgument: 'invalid argument',
  NotFound: 'not found',
  AlreadyExists: 'already exists',
  FailedPrecondition: 'failed precondition',
  Conflict: 'conflict',
  Unavailable: 'unavailable',
  NotImplemented: 'not implemented',
  Canceled: 'context canceled',
  DeadlineExceeded: 'context deadline exceeded',
  PermissionDenied: 'permission denied',
  ResourceExhausted: 'resource exhausted',
  Aborted: 'aborted',
  OutOfRange: 'out of range',
  DataLoss: 'data loss',
  Unauthenticated: 'unauthenticated',
  Internal: 'internal',
  Unknown: 'unknown',
};

function defineError(kind: ErrorKind): ErrdefsErrorClass {
  const cls = class extends Error implements ErrdefsError {
    static readonly kind = kind;
    readonly kind = kind;
    constructor(message: string, options?: ErrorOptions) {
      const tail = suffix[kind];
      super(message === '' ? tail : message.endsWith(tail) ? message : `${message}: ${tail}`, options);
    }
  };
  Object.defineProperty(cls, 'name', { value: `${kind}Error` });
  cls.prototype.name = `${kind}Error`;
  return cls;
}

export const InvalidArgumentError = defineError('InvalidArgument');
export const NotFoundError = defineError('NotFound');
export const AlreadyExistsError = defineError('AlreadyExists');
export const FailedPreconditionError = defineError('FailedPrecondition');
/** A write raced another one (containerd maps it to FailedPrecondition on the wire). */
export const ConflictError = defineError('Conflict');
export const UnavailableError = defineError('Unavailable');
export const NotImplementedError = defineError('NotImplemented');
export const CanceledError = defineError('Canceled');
export const DeadlineExceededError = defineError('DeadlineExceeded');
export const PermissionDeniedError = defineError('PermissionDenied');
export const ResourceExhaustedError = defineError('ResourceExhausted');
export const AbortedError = defineError('Aborted');
export const OutOfRangeError = defineError('OutOfRange');
export const DataLossError = defineError('DataLoss');
export const UnauthenticatedError = defineError('Unauthenticated');
export const InternalError = defineError('Internal');
export const UnknownError = defineError('Unknown');

export const errorClasses: Readonly<Record<ErrorKind, ErrdefsErrorClass>> = {
  InvalidArgument: InvalidArgumentError,
  NotFound: NotFoundError,
  AlreadyExists: AlreadyExistsError,
  FailedPrecondition: FailedPreconditionError,
  Conflict: ConflictError,
  Unavailable: UnavailableError,
  NotImplemented: NotImplementedError,
  Canceled: CanceledError,
  DeadlineExceeded: DeadlineExceededError,
  PermissionDenied: PermissionDeniedError,
  ResourceExhausted: ResourceExhaustedError,
  Aborted: AbortedError,
  OutOfRange: OutOfRangeError,
  DataLoss: DataLossError,
  Unauthenticated: UnauthenticatedError,
  Internal: InternalError,
  Unknown: UnknownError,
};

export function isErrdefs(err: unknown): err is ErrdefsError {
  return err instanceof Error && typeof (err as Partial<ErrdefsError>).kind === 'string' &&
    (err as ErrdefsError).kind in errorClasses;
}

/** The kind of any thrown value; foreign errors are Unknown (aborts are Canceled). */
export function kindOf(err: unknown): ErrorKind {
  if (isErrdefs(err)) return err.kind;
  if (err instanceof Error && err.name === 'AbortError') return 'Canceled';
  return 'Unknown';
}

export const isNotFound = (err: unknown): boolean => kindOf(err) === 'NotFound';
export const isAlreadyExists = (err: unknown): boolean => kindOf(err) === 'AlreadyExists';
export const isUnavailable = (err: unknown): boolean => kindOf(err) === 'Unavailable';
