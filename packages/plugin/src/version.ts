/** Flotilla's own release. */
export const FLOTILLA_VERSION = '0.1.0';

/**
 * The version the version service reports: containerd's API level, with Flotilla's release as build
 * metadata. Clients that gate features on the server's version (2.x speaks transfer, sandbox) compare the
 * containerd part and ignore the rest.
 */
export const API_VERSION = `v2.0.0+flotilla.${FLOTILLA_VERSION}`;
