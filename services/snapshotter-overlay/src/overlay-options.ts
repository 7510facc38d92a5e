import { access, readFile } from 'node:fs/promises';

/** The kernel exposes overlay's `index` parameter only where the feature (and `index=off`) exists. */
const INDEX_PARAMETER = '/sys/module/overlay/parameters/index';

const hasOption = (options: readonly string[], key: string): boolean =>
  options.some((o) => o === key || o.startsWith(`${key}=`));

/** Whether this process runs in a user namespace other than the initial one (its uid map is not the identity of all ids). */
async function inUserNamespace(): Promise<boolean> {
  const map = await readFile('/proc/self/uid_map', 'utf8').catch(() => '');
  const fields = map.trim().split(/\s+/);
  return !(fields.length === 3 && fields[0] === '0' && fields[1] === '0' && fields[2] === '4294967295');
}

/**
 * The options every overlay mount gets, first in its option list as in containerd's: the ones chosen here,
 * then the configured ones. containerd's overlay snapshotter chooses:
 * - `userxattr` in a user namespace, where overlay must keep its bookkeeping in user.* xattrs (trusted.*
 *   needs the initial namespace's CAP_SYS_ADMIN). containerd also probes the kernel with a test mount; we
 *   assume a kernel recent enough (5.11+) for rootless overlay at all.
 * - `index=off` where the kernel has the index feature: with it on, an upper directory is tied to the
 *   lower layers it was first mounted with, and a snapshot's layers are mounted in many combinations.
 * An option the configuration already sets (with or without a value) is left as configured.
 */
export async function overlayMountOptions(configured: readonly string[]): Promise<string[]> {
  const chosen: string[] = [];
  if (!hasOption(configured, 'index') && (await access(INDEX_PARAMETER).then(() => true, () => false))) chosen.push('index=off');
  if (!hasOption(configured, 'userxattr') && (await inUserNamespace())) chosen.push('userxattr');
  return [...chosen, ...configured];
}
