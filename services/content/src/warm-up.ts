import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { isNotFound } from '@flotilla/errdefs';
import type { WarmUpContext } from '@flotilla/plugin';
import { dialH2 } from '@flotilla/rpc/client';
import { createLocalStore } from './local-store.js';
import { remoteContentStore } from './proxy.js';
import { contentService } from './server.js';
import type { ContentStore } from './store.js';

/** Bytes the warm-up writes: two WRITE messages, as a client writing a small layer sends. */
const CHUNK = 64 * 1024;

/**
 * Every call an image pull or a garbage collection makes on a content store, once: a missing blob, a
 * write in two parts committed with labels, its info, a label update, whole and ranged reads, a filtered
 * list, an ingest left open then listed and aborted, and a delete. `tag` keeps the digest and refs apart
 * from anything else in the store.
 */
export async function exerciseContentStore(store: ContentStore, tag: string): Promise<void> {
  const data = Buffer.alloc(2 * CHUNK, tag);
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  await store.info(digest).then(
    () => store.delete(digest),
    (err: unknown) => { if (!isNotFound(err)) throw err; },
  );
  const w = await store.writer({ ref: `${tag}-1`, total: data.length, expected: digest });
  await w.status();
  await w.write(data.subarray(0, CHUNK));
  await w.write(data.subarray(CHUNK));
  await w.status();
  await w.commit(data.length, digest, { labels: { [`${tag}/kind`]: 'blob' } });
  await store.info(digest);
  await store.update({ digest, labels: { [`${tag}/kind`]: 'layer' } }, [`labels.${tag}/kind`]);
  for await (const _ of store.read(digest)) { /* drain */ }
  for await (const _ of store.read(digest, { offset: 10, size: 100 })) { /* drain */ }
  for await (const _ of store.list([`labels."${tag}/kind"==layer`])) { /* drain */ }

  const open = await store.writer({ ref: `${tag}-2`, total: CHUNK });
  await open.write(data.subarray(0, 512));
  await open.close();
  await store.status(`${tag}-2`);
  await store.listStatuses([`ref==${tag}-2`]);
  await store.abort(`${tag}-2`);
  await store.delete(digest);
}

/**
 * The content plugin's warm-up (Registration.warmUp): a scratch local store served on a scratch socket
 * and called through the client the gateway uses (bare HTTP/2 writes with a window, exact WRITE answers),
 * so the server's codecs, the store's writer and its label database have all run once.
 */
export async function warmUpContent(ctx: WarmUpContext): Promise<void> {
  const store = await createLocalStore({ root: join(ctx.scratch, 'content'), log: ctx.log });
  const channel = await ctx.serve((server) => contentService(() => store).register(server)).then((s) => dialH2(s.address));
  try {
    await exerciseContentStore(remoteContentStore(channel, { writeWindow: 8, exactWriteAnswers: true }), 'flotilla.warm-up');
  } finally {
    channel.close();
    store.close();
  }
}
