export type { ContentStore, Info, Status, Writer, WriterOptions, CommitOptions, ReadOptions, WriteData } from './store.js';
export { writeDataLength, writeDataPieces } from './write-data.js';
export { createLocalStore, type LocalStoreOptions, type LocalContentStore } from './local-store.js';
export { contentService } from './server.js';
export { remoteContentStore, type RemoteContentStoreOptions } from './proxy.js';
export { contentPlugins } from './plugins.js';
export {
  infoToProto,
  infoFromProto,
  statusToProto,
  statusFromProto,
  labelsFromProto,
  toTimestamp,
  fromTimestamp,
  ZERO_TIME,
} from './convert.js';
export { parseDigest, digestProblem, type ParsedDigest, type DigestAlgorithm } from './digest.js';
export { validateLabels, LABEL_UNCOMPRESSED } from './labels.js';
export { adaptInfo, adaptStatus } from './content-filters.js';
