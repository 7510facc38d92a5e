export {
  HEADER_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
  Flag,
  encodeFrame,
  createFrameDecoder,
  type Frame,
  type FrameHeader,
  type FrameSink,
  type FrameDecoder,
} from './frame.js';
export { OK, okStatus, statusOf, statusWith, errorOf } from './status.js';
export { toKeyValues, fromKeyValues, mergeMetadata, type Metadata, type MetadataInit } from './metadata.js';
export {
  dialTtrpc,
  ttrpcClientOn,
  socketPathOf,
  closedError,
  type TtrpcClient,
  type CallOptions,
  type ClientOptions,
  type DialOptions,
} from './client.js';
export { reconnectingTtrpc, type ReconnectingTtrpcClient } from './reconnecting-client.js';
export { serviceClient, type TtrpcServiceClient, type ServiceClientOptions } from './service-client.js';
export {
  createTtrpcServer,
  type TtrpcServer,
  type TtrpcCallContext,
  type TtrpcImplementation,
  type ServerOptions,
} from './server.js';
