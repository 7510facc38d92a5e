import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import type { ServiceImplementation } from 'nice-grpc';
import type { Definition } from './definition.js';
import type { RequestContext } from './server.js';

/** What a handler object for a generated service must provide (every method, typed from the .proto). */
export type Implementation<T extends GenService<GenServiceMethods>> =
  T extends GenService<infer S> ? ServiceImplementation<Definition<S>, RequestContext> : never;
