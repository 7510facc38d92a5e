import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { create } from '@bufbuild/protobuf';
import { Namespaces, UpdateNamespaceRequestSchema } from '@flotilla/proto/containerd/services/namespaces/v1/namespace_pb';
import { clientOf } from '@flotilla/rpc/client';
import { createLogger } from '@flotilla/log';
import { createLocalStore, remoteContentStore } from '@flotilla/service-content';
import { startFlotilla, type Flotilla } from '../support/flotilla.js';
import { startServiceProcess } from '../support/service-process.js';
import { contentSuite, type ContentTarget } from './suite.js';

// containerd's content conformance suite against each way Flotilla serves content: the store in this
// process, the content plugin process over its own socket, and the gateway (namespaced metadata in front
// of the content process), the last under both of containerd's content sharing policies.

const silent = () => createLogger({ service: 'content', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

contentSuite('local store', async (): Promise<ContentTarget> => {
  const dir = mkdtempSync(join(tmpdir(), 'content-suite-local-'));
  const store = await createLocalStore({ root: dir, log: silent() });
  return {
    store: () => store,
    namespaced: false,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

contentSuite('content process socket', async (): Promise<ContentTarget> => {
  const p = await startServiceProcess('content');
  const store = remoteContentStore(p.channel);
  return { store: () => store, namespaced: false, cleanup: () => p.stop() };
});

/** The gateway; `policy` is containerd's `content_sharing_policy` of its metadata plugin. */
function gatewayTarget(policy: 'shared' | 'isolated') {
  return async (): Promise<ContentTarget> => {
    const f: Flotilla = await startFlotilla(
      policy === 'isolated'
        ? { extraConfig: '[plugins."io.containerd.metadata.v1.bolt"]\n  content_sharing_policy = "isolated"\n' }
        : {},
    );
    const namespaces = clientOf(Namespaces, f.channel);
    const stores = new Map<string, ReturnType<typeof remoteContentStore>>();
    return {
      store(namespace = 'default') {
        let s = stores.get(namespace);
        if (!s) stores.set(namespace, (s = remoteContentStore(f.channel, { namespace })));
        return s;
      },
      namespaced: true,
      contentSharingPolicy: policy,
      async setNamespaceLabels(name, labels) {
        // As `ctr namespaces label`: one labels.<key> path per label; an unknown namespace is created.
        await namespaces.update(create(UpdateNamespaceRequestSchema, {
          namespace: { name, labels },
          updateMask: { paths: Object.keys(labels).map((k) => `labels.${k}`) },
        }));
      },
      cleanup: () => f.stop(),
    };
  };
}

contentSuite('gateway', gatewayTarget('shared'));
contentSuite('gateway (isolated content sharing policy)', gatewayTarget('isolated'));
