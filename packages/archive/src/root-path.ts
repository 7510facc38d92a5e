import { lstatSync, readlinkSync, type BigIntStats, type Stats } from 'node:fs';
import { InvalidArgumentError } from '@flotilla/errdefs';

/**
 * Paths inside an image root. Layer entries name paths relative to the image's root, and symlinks inside
 * the image mean what they would mean inside the container: an absolute target starts again at the image
 * root, not at the host's. These helpers turn such paths into paths relative to a directory on the host,
 * following the image's symlinks the way containerd's fs.RootPath does, except that where RootPath
 * quietly stops '..' at the root, resolving for extraction refuses the path outright.
 */

/** Linux gives up after 40 links in one lookup; containerd's resolver after 255. */
const MAX_LINKS = 255;

/**
 * A layer entry's name as a clean path relative to the root, '' for the root itself ("./", "."). Names
 * are cleaned lexically first ("a//b/./c/../d" is "a/b/d"), as Go's filepath.Clean does; an absolute name
 * or one that climbs above the root with '..' is refused with InvalidArgument, the message starting with
 * `what` (by default: layer entry "<name>").
 */
export function entryPath(name: string, what = `layer entry ${JSON.stringify(name)}`): string {
  if (name.startsWith('/')) throw new InvalidArgumentError(`${what}: absolute path`);
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new InvalidArgumentError(`${what}: path escapes the root`);
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out.join('/');
}

/** The parent ('' for a top-level name) and final component of a clean relative path. */
export function splitPath(rel: string): [string, string] {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? ['', rel] : [rel.slice(0, slash), rel.slice(slash + 1)];
}

export function joinPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

export interface ResolveOptions {
  /**
   * What a '..' above the root means: 'refuse' (InvalidArgument naming the path: a layer must not reach
   * outside its root) or 'clamp' (stay at the root, as RootPath does; for reading other layers).
   */
  readonly onEscape: 'refuse' | 'clamp';
  /** How refusals name the path (by default: layer path "<rel>"). */
  readonly what?: string;
}

/**
 * `rel` (clean, relative) resolved inside `root`: every component that is a symlink is replaced by its
 * target, read as if `root` were '/'. Components that do not exist are kept as they are, so the result
 * names where the path would be created. The result is relative to `root` and contains no symlinks and
 * no '..'.
 *
 * Synchronous on purpose: extraction resolves each new directory once, in trees it has just written or
 * that lower layers hold, so every lookup is a cached dentry taking microseconds, while a thread-pool
 * round trip per component costs tens of microseconds on an idle machine and milliseconds on a busy one.
 */
export function resolveInRoot(root: string, rel: string, opts: ResolveOptions): string {
  const what = () => opts.what ?? `layer path ${JSON.stringify(rel)}`;
  const resolved: string[] = [];
  const pending = rel === '' ? [] : rel.split('/');
  let links = 0;
  let missing = false;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (resolved.length > 0) resolved.pop();
      else if (opts.onEscape === 'refuse') throw new InvalidArgumentError(`${what()}: a symlink in it leads outside the root`);
      continue;
    }
    resolved.push(part);
    // Below a missing component nothing exists, so nothing more to look up.
    if (missing) continue;
    const host = `${root}/${resolved.join('/')}`;
    const st = lstatIfExists(host);
    if (st === undefined) {
      missing = true;
      continue;
    }
    if (!st.isSymbolicLink()) continue;
    if (++links > MAX_LINKS) throw new InvalidArgumentError(`${what()}: too many levels of symbolic links`);
    const target = readlinkSync(host);
    resolved.pop();
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...target.split('/'));
  }
  return resolved.join('/');
}

/** lstat(2), or undefined when nothing is there (also when a component on the way is not a directory). */
export function lstatIfExists(path: string): Stats | undefined;
export function lstatIfExists(path: string, bigint: true): BigIntStats | undefined;
export function lstatIfExists(path: string, bigint = false): Stats | BigIntStats | undefined {
  try {
    // throwIfNoEntry covers ENOENT only; a file where a directory should be is ENOTDIR.
    return lstatSync(path, { bigint, throwIfNoEntry: false });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}
