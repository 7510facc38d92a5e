import { fromBinary, type DescMethod } from '@bufbuild/protobuf';
import { ApplyRequestSchema } from '@flotilla/proto/containerd/services/diff/v1/diff_pb';
import { CONTENT_CHECKED_KEY, checkedContentValue, requireNamespace } from '@flotilla/rpc';
import { LABEL_UNCOMPRESSED, digestProblem } from '@flotilla/service-content';
import type { NamespacedContent } from './metadata/content.js';
import type { RelayGuard } from './router.js';

/**
 * The first thing containerd's differ does with an Apply is look the layer blob up in the call's
 * namespace, for its size and the diff ID it must unpack to. The gateway owns those records, so it looks
 * the blob up itself: a blob the namespace does not hold is answered NotFound here, and the differ is told
 * the rest (CONTENT_CHECKED_KEY) instead of asking the gateway back, a round trip per layer of a pull.
 * Calls the differ would refuse anyway (no namespace, no or a malformed digest) are left to it, with the
 * key cleared so that a client cannot set it through the gateway.
 */
export function diffContentGuard(content: NamespacedContent): RelayGuard {
  return (method: DescMethod, request, ctx) => {
    if (method.name !== 'Apply' || request === undefined) return undefined;
    const unchecked = { [CONTENT_CHECKED_KEY]: '' };
    const digest = fromBinary(ApplyRequestSchema, request).diff?.digest ?? '';
    if (digest === '' || digestProblem(digest) !== undefined) return unchecked;
    let ns: string;
    try {
      ns = requireNamespace(ctx.metadata);
    } catch {
      return unchecked;
    }
    const info = content.infoNow(ns, digest);
    const uncompressed = info.labels[LABEL_UNCOMPRESSED];
    return { [CONTENT_CHECKED_KEY]: checkedContentValue({ digest, size: info.size, ...(uncompressed !== undefined ? { uncompressed } : {}) }) };
  };
}
