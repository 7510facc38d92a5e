import type { TarHeaderInit } from './tar-header.js';
import { createTarWriter } from './tar-writer.js';

// Extraction and mounts need root (those suites skip themselves otherwise) and a filesystem of their own.
export { isRoot, suiteTmpfs, rejection, treeSnapshot, type TreeEntry } from '@flotilla/native/test-support';

export type TestEntry = TarHeaderInit & { readonly data?: string | Buffer };

/** A tar archive of `entries`, made by our writer. */
export async function tarOf(entries: readonly TestEntry[]): Promise<Buffer> {
  const out: Buffer[] = [];
  const tar = createTarWriter((b) => { out.push(Buffer.from(b)); });
  for (const e of entries) {
    const data = e.data === undefined ? undefined : Buffer.from(e.data);
    await tar.writeHeader({ ...e, ...(data !== undefined ? { size: data.length } : {}) });
    if (data !== undefined && data.length > 0) await tar.write(data);
  }
  await tar.end();
  return Buffer.concat(out);
}

/** `buf` as a stream of chunks of `size` bytes. */
export async function* chunks(buf: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}
