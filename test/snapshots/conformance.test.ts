import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '@flotilla/log';
import { remoteSnapshotter } from '@flotilla/snapshots';
import { createOverlaySnapshotter } from '@flotilla/service-snapshotter-overlay';
import { startFlotilla, type Flotilla } from '../support/flotilla.js';
import { startServiceProcess } from '../support/service-process.js';
import { snapshotterSuite, type CaseSnapshotter, type SnapshotterTarget } from './suite.js';

// containerd's snapshotter conformance suite against each way Flotilla serves the overlayfs snapshotter:
// the snapshotter in this process, the snapshotter-overlay plugin process over its own socket, and the
// gateway, where the namespaced metadata stands in front of that process. Each case gets a snapshotter
// with nothing in it, as in containerd: a fresh root here, a fresh process there, a namespace of its own
// in the gateway (as containerd's own metadata tests give each case one).

const silent = () => createLogger({ service: 'snapshotter-overlay', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

snapshotterSuite('local overlayfs snapshotter', async (): Promise<SnapshotterTarget> => ({
  name: 'overlayfs',
  async open(): Promise<CaseSnapshotter> {
    const root = mkdtempSync(join(tmpdir(), 'snapshots-suite-local-'));
    const snapshotter = await createOverlaySnapshotter({ root, log: silent() }).catch((err: unknown) => {
      rmSync(root, { recursive: true, force: true });
      throw err;
    });
    return {
      snapshotter,
      async release() {
        await snapshotter.close();
        rmSync(root, { recursive: true, force: true });
      },
    };
  },
}));

/** `flotilla service snapshotter-overlay` on a socket of its own, and a proxy snapshotter to it. */
async function startProcess(): Promise<CaseSnapshotter> {
  const p = await startServiceProcess('snapshotter-overlay');
  // The process answers for any snapshotter name; send containerd's, as the gateway does.
  return { snapshotter: remoteSnapshotter(p.channel, 'overlayfs'), release: () => p.stop() };
}

snapshotterSuite('snapshotter-overlay process socket', async (): Promise<SnapshotterTarget> => ({
  name: 'overlayfs',
  open: startProcess,
}));

/** One gateway for the whole suite; each case talks to it in the namespace the suite names for the case. */
snapshotterSuite('gateway', async (): Promise<SnapshotterTarget> => {
  const gateway: Flotilla = await startFlotilla();
  return {
    name: 'overlayfs',
    async open(namespace) {
      return { snapshotter: remoteSnapshotter(gateway.channel, 'overlayfs', { namespace }), release: async () => {} };
    },
    cleanup: () => gateway.stop(),
  };
});
