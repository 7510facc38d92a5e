/**
 * OCI layer whiteouts (image-spec layer.md): an entry `.wh.<name>` says `<name>` was deleted from the
 * layers below; `.wh..wh..opq` in a directory says nothing below shows through it. Overlayfs says the
 * same with a 0/0 character device and the `trusted.overlay.opaque` xattr.
 */
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';
