import type { Timespec } from '@flotilla/archive';
import type { Mount } from '@flotilla/snapshots';

/**
 * The diff service's vocabulary (containerd's core/diff): an Applier unpacks a layer blob onto a
 * snapshot's mounts, a Comparer makes a layer blob from the difference between two mount sets. Blobs live
 * in the content store; descriptors name them.
 */

/** An OCI descriptor: what a blob is, its digest and size. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Who a call is for: the namespace and lease the content store sees. */
export interface CallScope {
  readonly namespace?: string;
  readonly lease?: string;
  readonly signal?: AbortSignal;
}

export interface ApplyOptions extends CallScope {
  /** syncfs(2) the target filesystem once the layer is written. */
  readonly syncFs?: boolean;
  /**
   * The uncompressed digest the layer must have (its diff ID from the image config). Without it, the
   * `containerd.io/uncompressed` annotation of the descriptor or label of the blob is checked when
   * present; otherwise the caller compares the returned digest itself, as containerd's unpacker does.
   */
  readonly expectedDiffId?: string;
  /**
   * What the caller already found out about the blob in the call's namespace (the gateway does, see
   * CONTENT_CHECKED_KEY): its size and its `containerd.io/uncompressed` label. The applier then does not
   * look the blob up itself. Ignored unless it names the descriptor's digest.
   */
  readonly checked?: { readonly digest: string; readonly size: number; readonly uncompressed?: string };
}

export interface Applier {
  /**
   * Unpack the blob `desc` names onto `mounts`; returns the uncompressed layer's descriptor
   * (application/vnd.oci.image.layer.v1.tar, its digest is the diff ID). FailedPrecondition when the
   * digest is not the expected one; InvalidArgument for a layer that is corrupt or reaches outside the
   * mounts; NotImplemented for a media type that is not a layer.
   */
  apply(desc: Descriptor, mounts: readonly Mount[], opts?: ApplyOptions): Promise<Descriptor>;
}

export interface CompareOptions extends CallScope {
  /** The layer's media type: OCI tar, tar+gzip (the default) or tar+zstd. */
  readonly mediaType?: string;
  /** The content store ingest ref to write through (a fresh one when absent). */
  readonly ref?: string;
  /** Labels for the committed blob (containerd.io/uncompressed is added for compressed layers). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Clamp entry times to this (SOURCE_DATE_EPOCH). */
  readonly sourceDateEpoch?: Timespec;
}

export interface Comparer {
  /**
   * Make the layer that turns the tree `lower` mounts into the tree `upper` mounts, store it in the
   * content store, and return its descriptor. An empty `lower` is an empty tree.
   */
  compare(lower: readonly Mount[], upper: readonly Mount[], opts?: CompareOptions): Promise<Descriptor>;
}

export type Differ = Applier & Comparer;

export const MEDIA_TYPE_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const MEDIA_TYPE_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MEDIA_TYPE_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
export { LABEL_UNCOMPRESSED } from '@flotilla/service-content';
