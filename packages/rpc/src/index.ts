export { definitionOf, rawDefinitionOf, type Definition, type ShapeOf } from './definition.js';
export { withUnimplemented, type Implementation } from './implementation.js';
export { createRpcServer, listenUnix, MAX_MESSAGE_BYTES, type RpcServer, type RequestContext } from './server.js';
export { dialUnix, clientOf, type ServiceClient } from './client.js';
export { createHealth, ServingStatus, type HealthRegistry } from './health.js';
export {
  NAMESPACE_KEY,
  NAMESPACE_KEY_TTRPC,
  validateIdentifier,
  namespaceOf,
  requireNamespace,
} from './namespace.js';
