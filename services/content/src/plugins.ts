import { PluginType, type Registration } from '@flotilla/plugin';
import { createLocalStore } from './local-store.js';
import { contentService } from './server.js';
import type { ContentStore } from './store.js';
import { warmUpContent } from './warm-up.js';

/**
 * What `flotilla service content` hosts: the local store as io.containerd.content.v1.content and its gRPC
 * service. The service ignores namespaces: the gateway keeps which namespace sees which blob.
 */
export const contentPlugins: Registration[] = [
  {
    type: PluginType.Content,
    id: 'content',
    init: (ctx) => createLocalStore({ root: ctx.root, log: ctx.log }),
  },
  {
    type: PluginType.GRPC,
    id: 'content',
    requires: [PluginType.Content],
    init: (ctx) => {
      const store = ctx.get<ContentStore>(PluginType.Content);
      return contentService(() => store);
    },
    warmUp: warmUpContent,
  },
];
