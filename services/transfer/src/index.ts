export type {
  Descriptor,
  CallScope,
  ApplyOptions,
  CompareOptions,
  Applier,
  Comparer,
  Differ,
} from './differ.js';
export { MEDIA_TYPE_LAYER, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_ZSTD, LABEL_UNCOMPRESSED } from './differ.js';
export { createWalkingDiffer, type WalkingDifferOptions } from './walking-differ.js';
export { diffService } from './server.js';
export { descriptorFromProto, descriptorToProto } from './convert.js';
export { transferPlugins, type WalkingDifferConfig } from './plugins.js';
