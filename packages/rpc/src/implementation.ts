import { NotImplementedError } from '@flotilla/errdefs';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import type { ServiceImplementation } from 'nice-grpc';
import type { Definition } from './definition.js';
import type { RequestContext } from './h2-server.js';

/** What a handler object for a generated service must provide (every method, typed from the .proto). */
export type Implementation<T extends GenService<GenServiceMethods>> =
  T extends GenService<infer S> ? ServiceImplementation<Definition<S>, RequestContext> : never;

/**
 * Complete a partial handler object: methods left out answer Unimplemented, as Go's generated
 * Unimplemented*Server does. For servers that deliberately serve part of an API.
 */
export function withUnimplemented<T extends GenService<GenServiceMethods>>(
  service: T,
  partial: Partial<Implementation<T>>,
): Implementation<T> {
  const full: Record<string, unknown> = { ...partial };
  for (const m of service.methods) {
    if (full[m.localName] !== undefined) continue;
    const fail = () => { throw new NotImplementedError(`${service.typeName}.${m.name} is not implemented`); };
    full[m.localName] = m.methodKind === 'server_streaming' || m.methodKind === 'bidi_streaming'
      // eslint-disable-next-line require-yield
      ? async function* () { fail(); }
      : async () => fail();
  }
  return full as Implementation<T>;
}
