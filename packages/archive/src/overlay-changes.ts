import { lgetxattr, llistxattr } from '@flotilla/native';
import type { Change } from './changes.js';
import { walkTree } from './tree-walker.js';
import { OVERLAY_OPAQUE_XATTR } from './whiteouts.js';

/**
 * The changes an overlay upper directory holds over its lower layers, read from the upper directory
 * alone: overlayfs keeps there exactly what changed, a 0/0 character device for each deleted name and
 * `trusted.overlay.opaque=y` on directories that hide the layers below. Walking it is much cheaper than
 * comparing two mounted trees, and needs no mount.
 *
 * Everything present counts as added: a file copied up without being changed is written again, which a
 * layer may do. Redirected directories (redirect_dir) and metadata-only copies (metacopy) need the lower
 * layers to interpret, so an upper directory using them gives undefined: the caller then compares the
 * mounted trees instead.
 */
export async function overlayUpperChanges(upperdir: string): Promise<Change[] | undefined> {
  const walk = await walkTree(upperdir);
  const out: Change[] = [];
  for (let e = walk.current; e !== undefined; e = walk.current) {
    const st = e.stat;
    if (st.isCharacterDevice() && st.rdev === 0n) {
      out.push({ kind: 'delete', path: e.path });
    } else if (st.isDirectory()) {
      const names = await llistxattr(`${upperdir}/${e.path}`);
      if (names.some(isLowerDependent)) return undefined;
      const opaque = names.includes(OVERLAY_OPAQUE_XATTR) &&
        (await lgetxattr(`${upperdir}/${e.path}`, OVERLAY_OPAQUE_XATTR)).toString() === 'y';
      out.push({ kind: 'add', path: e.path, stat: st, ...(opaque ? { opaque } : {}) });
    } else {
      out.push({ kind: 'add', path: e.path, stat: st });
    }
    await walk.advance(true);
  }
  return out;
}

function isLowerDependent(xattr: string): boolean {
  return xattr === 'trusted.overlay.redirect' || xattr === 'trusted.overlay.metacopy';
}
