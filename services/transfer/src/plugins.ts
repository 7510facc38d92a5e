import { dirname, join } from 'node:path';
import { PluginType, type InitContext, type Registration } from '@flotilla/plugin';
import { dialH2 } from '@flotilla/rpc/client';
import { remoteContentStore, type ContentStore } from '@flotilla/service-content';
import { readBlobFile, type BlobSource } from './blob-files.js';
import { createLayerPrefetcher } from './layer-prefetch.js';
import type { CallScope, Differ } from './differ.js';
import { diffService } from './server.js';
import { createWalkingDiffer } from './walking-differ.js';
import { warmUpDiff } from './warm-up.js';

export interface WalkingDifferConfig {
  /**
   * Socket of the namespaced content service the differ reads layers from and writes diffs to: by
   * default the gateway's (so blobs are seen, and written, in the caller's namespace and lease), or,
   * for a process run alone, the content process's. A containerd's socket works too.
   */
  content_address?: string;
  /**
   * Socket of a content service without namespaces to read blob bytes from, once the namespaced one has
   * found the blob: by default the content process, when the namespaced service is the gateway.
   */
  blobs_address?: string;
  /**
   * A content store directory on this host to read committed blobs from directly (blob-files.ts), before
   * asking a socket: by default the content plugin's directory beside this plugin's under the common root
   * (where the gateway's content process keeps them); "" turns it off.
   */
  blobs_path?: string;
  /**
   * Inflate compressed layers as they are committed to the store at blobs_path, so that their Apply only
   * extracts them (layer-prefetch.ts). Default true; needs blobs_path.
   */
  prefetch_layers?: boolean;
}

/** Namespaced views of one content service, made once per namespace and lease and kept (they are cheap, but hold a connection). */
function contentViews(address: string): (scope: CallScope) => ContentStore {
  const channel = dialH2(address);
  const views = new Map<string, ContentStore>();
  return ({ namespace, lease }) => {
    const key = `${namespace ?? ''}\0${lease ?? ''}`;
    let view = views.get(key);
    if (view === undefined) {
      // A few namespaces and short-lived leases in practice; forget them all now and then.
      if (views.size >= 256) views.clear();
      view = remoteContentStore(channel, { ...(namespace !== undefined ? { namespace } : {}), ...(lease !== undefined ? { lease } : {}) });
      views.set(key, view);
    }
    return view;
  };
}

function walkingDiffer(ctx: InitContext<WalkingDifferConfig>): Differ {
  const content = ctx.config.content_address || ctx.peers['gateway'] || ctx.peers['content'];
  if (content === undefined || content === '') {
    throw new Error('no content service to use: set content_address, or start the process with --peer content=SOCKET');
  }
  const blobsAddress = ctx.config.blobs_address || (content === ctx.peers['gateway'] ? ctx.peers['content'] : undefined);
  const blobsStore = blobsAddress !== undefined && blobsAddress !== '' ? remoteContentStore(dialH2(blobsAddress)) : undefined;
  const blobsPath = ctx.config.blobs_path ?? join(dirname(ctx.root), `${PluginType.Content}.content`);
  ctx.exports['content'] = content;
  if (blobsPath !== '') ctx.exports['blobs'] = blobsPath;
  const readBlob = (digest: string, store: ContentStore, size: number): AsyncIterable<Uint8Array> => {
    const source: BlobSource = blobsStore ?? store;
    return blobsPath !== '' ? readBlobFile(blobsPath, digest, source, size) : source.read(digest);
  };
  const prefetched = blobsPath !== '' && ctx.config.prefetch_layers !== false ? createLayerPrefetcher({ dir: blobsPath, log: ctx.log }) : undefined;
  return createWalkingDiffer({
    content: contentViews(content),
    readBlob,
    ...(prefetched !== undefined ? { prefetched } : {}),
    tempMounts: join(ctx.state, 'tmpmounts'),
    log: ctx.log,
  });
}

/** Go's names for Node's architectures, as containerd's introspection reports platforms. */
const GOARCH: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/**
 * What `flotilla service transfer` hosts: the walking differ as io.containerd.differ.v1.walking (as in
 * containerd) and the containerd.services.diff.v1 service over it.
 */
export const transferPlugins: Registration[] = [
  {
    type: PluginType.Differ,
    id: 'walking',
    config: { prefetch_layers: true } satisfies WalkingDifferConfig,
    platforms: [{ os: 'linux', architecture: GOARCH[process.arch] ?? process.arch }],
    init: (ctx: InitContext<WalkingDifferConfig>) => walkingDiffer(ctx),
  } as Registration<WalkingDifferConfig, Differ>,
  {
    type: PluginType.GRPC,
    id: 'diff',
    requires: [PluginType.Differ],
    init: (ctx) => {
      const differ = ctx.get<Differ>(PluginType.Differ, 'walking');
      return diffService(() => differ);
    },
    warmUp: warmUpDiff,
  },
];
