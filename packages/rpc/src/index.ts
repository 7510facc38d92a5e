export { definitionOf, rawDefinitionOf, type Definition, type PartsDeserializer, type ShapeOf } from './definition.js';
export { withUnimplemented, type Implementation } from './implementation.js';
export { createRpcServer, MAX_MESSAGE_BYTES, type RpcServer, type RpcServerOptions, type RequestContext, type ServerCallContext } from './h2-server.js';
export { listenUnix } from './server.js';
export { createHealth, ServingStatus, type HealthRegistry } from './health.js';
export {
  NAMESPACE_KEY,
  NAMESPACE_KEY_TTRPC,
  validateIdentifier,
  namespaceOf,
  requireNamespace,
  LEASE_KEY,
  leaseOf,
  CONTAINER_CHECKED_KEY,
  CONTENT_CHECKED_KEY,
  checkedContentValue,
  checkedContentOf,
  type CheckedContent,
} from './namespace.js';
