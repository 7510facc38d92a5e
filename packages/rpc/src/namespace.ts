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

/**
 * Set by the gateway on a Diff Apply it relays once it has found the layer blob in the call's namespace
 * (it owns the content records): `<digest> <size>` then, when the blob has one, ` <uncompressed digest>`
 * (its `containerd.io/uncompressed` label). The differ then takes the size and expected diff ID from here
 * instead of asking the gateway for the blob's info, a round trip per layer. A client that sets it on a
 * call to the differ's own socket only skips that check; the gateway always replaces it.
 */
export const CONTENT_CHECKED_KEY = 'flotilla-content-checked';

/** What CONTENT_CHECKED_KEY says about a blob. */
export interface CheckedContent {
  readonly digest: string;
  readonly size: number;
  readonly uncompressed?: string;
}

export function checkedContentValue(c: CheckedContent): string {
  return c.uncompressed !== undefined && c.uncompressed !== '' ? `${c.digest} ${c.size} ${c.uncompressed}` : `${c.digest} ${c.size}`;
}

/** What the gateway checked about `digest`, when the call says so about that digest and says it well. */
export function checkedContentOf(metadata: Metadata, digest: string): CheckedContent | undefined {
  const v = metadata.get(CONTENT_CHECKED_KEY);
  if (typeof v !== 'string') return undefined;
  const [d, size, uncompressed, ...rest] = v.split(' ');
  const n = Number(size);
  if (d !== digest || rest.length > 0 || size === undefined || !/^\d+$/.test(size) || !Number.isSafeInteger(n)) return undefined;
  return { digest: d, size: n, ...(uncompressed !== undefined && uncompressed !== '' ? { uncompressed } : {}) };
}

