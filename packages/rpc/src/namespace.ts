import { InvalidArgumentError, FailedPreconditionError } from '@flotilla/errdefs';
import type { Metadata } from 'nice-grpc';

/** The gRPC metadata key containerd clients put the namespace in. */
export const NAMESPACE_KEY = 'containerd-namespace';
/** Over ttrpc (shims, NRI) the same value travels under this key. */
export const NAMESPACE_KEY_TTRPC = 'containerd-namespace-ttrpc';

// containerd's identifiers.Validate: alphanumerics separated by single '.', '_' or '-', at most 76 chars.
const IDENTIFIER = /^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$/;
const MAX_IDENTIFIER = 76;

/** Validate a name the way containerd validates identifiers (namespaces, containers, leases...). */
export function validateIdentifier(s: string): void {
  if (s === '') throw new InvalidArgumentError('identifier must not be empty');
  if (s.length > MAX_IDENTIFIER) {
    throw new InvalidArgumentError(`identifier ${JSON.stringify(s)} greater than maximum length (${MAX_IDENTIFIER} characters)`);
  }
  if (!IDENTIFIER.test(s)) {
    throw new InvalidArgumentError(`identifier ${JSON.stringify(s)} must match ${IDENTIFIER.source}`);
  }
}

/** The namespace of a call, or undefined when the client sent none. */
export function namespaceOf(metadata: Metadata): string | undefined {
  const v = metadata.get(NAMESPACE_KEY);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * The namespace a namespaced call must carry. containerd answers a missing one with FailedPrecondition
 * ("namespace is required") and a malformed one with InvalidArgument; so do we.
 */
export function requireNamespace(metadata: Metadata): string {
  const ns = namespaceOf(metadata);
  if (ns === undefined) throw new FailedPreconditionError('namespace is required');
  try {
    validateIdentifier(ns);
  } catch (err) {
    throw new InvalidArgumentError(`namespace validation: ${(err as Error).message}`, { cause: err });
  }
  return ns;
}

/** The gRPC metadata key a client names its lease in: what it writes is kept by that lease. */
export const LEASE_KEY = 'containerd-lease';

/** The lease a call runs under, if any. */
export function leaseOf(metadata: Metadata): string | undefined {
  const v = metadata.get(LEASE_KEY);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * Set by the gateway on a task call it relays to the runtime once it has found the call's container in
 * its records (it owns them): the container id it checked. The runtime then skips asking the gateway for
 * the same record again. A client that sets it on a call to the runtime's own socket only skips that check.
 */
export const CONTAINER_CHECKED_KEY = 'flotilla-container-checked';
