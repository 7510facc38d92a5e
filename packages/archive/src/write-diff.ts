import { CanceledError } from '@flotilla/errdefs';
import { createChangeWriter, type ChangeWriterOptions } from './change-writer.js';
import { doubleWalkChanges, type Change } from './changes.js';
import { overlayUpperChanges } from './overlay-changes.js';
import { createTarWriter, type TarSink } from './tar-writer.js';

export interface WriteDiffOptions extends ChangeWriterOptions {
  readonly signal?: AbortSignal;
}

/**
 * Writes to `sink` the uncompressed OCI layer that turns the tree at `lower` into the tree at `upper`
 * (containerd's archive.WriteDiff over fs.Changes): both trees are walked side by side.
 */
export async function writeDiff(lower: string, upper: string, sink: TarSink, opts: WriteDiffOptions = {}): Promise<void> {
  await writeChanges(doubleWalkChanges(lower, upper), upper, sink, opts);
}

/**
 * The same from an overlay upper directory alone (see overlay-changes.ts): false, with nothing written,
 * when the directory uses overlay features that only the lower layers can explain; the caller then
 * compares mounted trees with writeDiff.
 */
export async function writeOverlayDiff(upperdir: string, sink: TarSink, opts: WriteDiffOptions = {}): Promise<boolean> {
  const changes = await overlayUpperChanges(upperdir);
  if (changes === undefined) return false;
  await writeChanges(changes, upperdir, sink, opts);
  return true;
}

async function writeChanges(changes: AsyncIterable<Change> | Iterable<Change>, source: string, sink: TarSink, opts: WriteDiffOptions): Promise<void> {
  const tar = createTarWriter(sink);
  const writer = createChangeWriter(source, tar, opts);
  for await (const change of changes) {
    if (opts.signal?.aborted === true) throw new CanceledError('diff canceled', { cause: opts.signal.reason });
    await writer.handle(change);
  }
  await tar.end();
}
