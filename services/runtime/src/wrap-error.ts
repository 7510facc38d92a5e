import { errorClasses, kindOf, type ErrdefsError } from '@flotilla/errdefs';

/** Add context to an error and keep its kind, as Go's fmt.Errorf("...: %w") keeps errdefs.Is working. */
export function wrapError(prefix: string, err: unknown): ErrdefsError {
  const message = err instanceof Error ? err.message : String(err);
  return new errorClasses[kindOf(err)](`${prefix}: ${message}`, { cause: err });
}
