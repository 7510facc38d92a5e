import { NotImplementedError } from '@flotilla/errdefs';
import type { Compression } from '@flotilla/archive';
import { MEDIA_TYPE_LAYER, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_ZSTD } from './differ.js';

/**
 * What a layer's media type says about its compression, as containerd's images.DiffCompression reads it:
 * 'detect' when it is compressed (or, for Docker's plain tar type, may be), 'none' for an uncompressed
 * tar. The actual codec is then told by the magic number, as containerd does. Anything that is not a
 * layer, or is wrapped in something else (+encrypted), is NotImplemented.
 */
export function layerCompression(mediaType: string): 'detect' | 'none' {
  const [base = '', ...suffixes] = mediaType.split('+');
  const wrapped = (allowed: readonly string[]) => suffixes.some((s) => !allowed.includes(s));
  switch (base) {
    case 'application/vnd.docker.image.rootfs.diff.tar':
    case 'application/vnd.docker.image.rootfs.foreign.diff.tar':
      if (suffixes.length === 0) return 'detect';
      break;
    case 'application/vnd.docker.image.rootfs.diff.tar.gzip':
    case 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip':
    case 'application/vnd.docker.image.rootfs.diff.tar.zstd':
      if (suffixes.length === 0) return 'detect';
      break;
    case MEDIA_TYPE_LAYER:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar':
      if (!wrapped(['gzip', 'zstd']) && suffixes.length <= 1) return suffixes.length === 0 ? 'none' : 'detect';
      break;
  }
  throw new NotImplementedError(`no processor for media-type ${mediaType}`);
}

/** The compression a diff of `mediaType` is written with; NotImplemented for other types. */
export function diffCompression(mediaType: string): Compression {
  switch (mediaType) {
    case MEDIA_TYPE_LAYER:
      return 'none';
    case MEDIA_TYPE_LAYER_GZIP:
      return 'gzip';
    case MEDIA_TYPE_LAYER_ZSTD:
      return 'zstd';
    default:
      throw new NotImplementedError(`unsupported diff media type: ${mediaType}`);
  }
}
