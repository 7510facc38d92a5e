import { join } from 'node:path';
import type { WarmUpContext } from '@flotilla/plugin';
import { dialH2 } from '@flotilla/rpc/client';
import { exerciseSnapshotter, remoteSnapshotter, snapshotsService } from '@flotilla/snapshots';
import { createOverlaySnapshotter } from './overlay-snapshotter.js';

/**
 * The Snapshots service's warm-up (Registration.warmUp): a scratch overlay snapshotter served on a
 * scratch socket and called through the client the gateway uses, so the server, the metadata database
 * and the snapshotter's code have all run once before the first real unpack.
 */
export async function warmUpOverlay(ctx: WarmUpContext): Promise<void> {
  const sn = await createOverlaySnapshotter({ root: join(ctx.scratch, 'overlayfs'), log: ctx.log });
  const channel = await ctx.serve((server) => snapshotsService(() => sn).register(server)).then((s) => dialH2(s.address));
  try {
    await exerciseSnapshotter(remoteSnapshotter(channel, 'overlayfs'), 'flotilla.warm-up');
  } finally {
    channel.close();
    await sn.close();
  }
}
