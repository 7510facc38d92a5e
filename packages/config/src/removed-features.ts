import { InvalidArgumentError, NotImplementedError } from '@flotilla/errdefs';

/**
 * What containerd 2.0 removed, and the checks that refuse each with an error naming its replacement. Pure
 * functions, for whichever service meets the removed thing: config loading, the snapshots and images
 * services, and (when it exists) container creation.
 */

export const RUNC_V2 = 'io.containerd.runc.v2';

const removedRuntimes: Readonly<Record<string, string>> = {
  'io.containerd.runtime.v1.linux': 'runtime v1 (containerd-shim) was removed in containerd 2.0',
  'io.containerd.runc.v1': 'the io.containerd.runc.v1 shim was removed in containerd 2.0',
};

/** Why a runtime name is no longer accepted, or undefined if it is. */
export function removedRuntime(name: string): string | undefined {
  return removedRuntimes[name];
}

/**
 * Refuse a removed runtime by name: for container creation, which would otherwise fail later and less
 * clearly when no shim answers to it. NotImplemented, the kind containerd 2.0 gives removed features.
 */
export function validateRuntimeName(name: string): void {
  const why = removedRuntimes[name];
  if (why !== undefined) throw new NotImplementedError(`runtime ${JSON.stringify(name)} is not supported: ${why}; use ${RUNC_V2}`);
}

const removedSnapshotters: Readonly<Record<string, string>> = {
  aufs: 'the aufs snapshotter was removed in containerd 2.0; use overlayfs',
};

/** Why a snapshotter name is no longer accepted, or undefined if it is. */
export function removedSnapshotter(name: string): string | undefined {
  return removedSnapshotters[name];
}

/**
 * For a snapshotter lookup that found nothing: a removed snapshotter's name gets the error that names its
 * replacement (InvalidArgument, as containerd answers any snapshotter it has not loaded); any other name
 * falls through (undefined) to the caller's own not-loaded error.
 */
export function rejectRemovedSnapshotter(name: string): undefined {
  const why = removedSnapshotters[name];
  if (why !== undefined) throw new InvalidArgumentError(`snapshotter not loaded: ${name}: ${why}`);
  return undefined;
}

/** Docker image manifest schema 1, unsigned and signed: containerd 2.0 no longer pulls or converts them. */
export const SCHEMA1_MEDIA_TYPES: readonly string[] = [
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
];

/**
 * Refuse a Docker schema 1 manifest media type, with NotImplemented as containerd 2.0 refuses a schema 1
 * pull, naming the two manifest types to rebuild the image as.
 */
export function rejectSchema1MediaType(mediaType: string): void {
  if (!SCHEMA1_MEDIA_TYPES.includes(mediaType)) return;
  throw new NotImplementedError(
    `media type ${JSON.stringify(mediaType)} (Docker schema 1) is no longer supported since containerd 2.0: rebuild or convert the image as `
    + '"application/vnd.docker.distribution.manifest.v2+json" (Docker schema 2) or "application/vnd.oci.image.manifest.v1+json" (OCI)',
  );
}

/** CRI's v1alpha2 API, removed in containerd 2.0: every call answers Unimplemented with this message. */
export const CRI_V1ALPHA2_SERVICES: readonly string[] = ['runtime.v1alpha2.RuntimeService', 'runtime.v1alpha2.ImageService'];
export const CRI_V1ALPHA2_MESSAGE =
  'CRI API v1alpha2 was removed in containerd 2.0: use CRI API v1 (runtime.v1.RuntimeService and runtime.v1.ImageService)';
