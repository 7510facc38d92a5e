import { describe, expect, it } from 'vitest';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dialH2 } from '@flotilla/rpc/client';
import { remoteContentStore } from '@flotilla/service-content';
import { remoteSnapshotter } from '@flotilla/snapshots';
import { startFlotilla, type Flotilla } from './support/flotilla.js';
import { ensureFixtures, REGISTRY } from './support/fixtures.js';

const NS = 'flotilla.warm-up';

/** The log lines (parsed) whose message is `msg`. */
const logged = (f: Flotilla, msg: string) => f.log().split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);

/** What the content and overlay processes hold, asked on their own sockets, past the gateway. */
async function backends(f: Flotilla): Promise<{ blobs: string[]; ingests: string[]; snapshots: string[] }> {
  const address = async (name: string) => (await f.plugins()).find((p) => p.type === 'io.flotilla.process.v1' && p.id === name)!.exports['address']!;
  const content = dialH2(await address('content'));
  const overlay = dialH2(await address('snapshotter-overlay'));
  try {
    const store = remoteContentStore(content);
    const blobs: string[] = [];
    for await (const i of store.list()) blobs.push(i.digest);
    const snapshots: string[] = [];
    await remoteSnapshotter(overlay, 'overlayfs').walk((i) => { snapshots.push(i.name); });
    return { blobs, ingests: (await store.listStatuses()).map((s) => s.ref), snapshots };
  } finally {
    content.close();
    overlay.close();
  }
}

const empty = { blobs: [], ingests: [], snapshots: [] };

describe('warm-up, across the cluster', () => {
  it('warms every process and the gateway before they are reported ready, and leaves nothing anywhere', async () => {
    const f = await startFlotilla({ logLevel: 'debug' });
    try {
      expect(logged(f, 'warmed up').map((l) => `${String(l['service'])} ${String(l['plugin'])}`).sort()).toEqual([
        'content io.containerd.grpc.v1.content',
        'snapshotter-overlay io.containerd.grpc.v1.snapshots',
        'transfer io.containerd.grpc.v1.diff',
      ]);
      // startFlotilla returned once introspection called every process ready: the gateway had finished.
      expect(logged(f, 'warm-up done').map((l) => l['service'])).toEqual(['gateway']);
      expect(f.log()).not.toContain('warm-up failed');
      const ns = await f.ctr(['namespaces', 'ls', '-q']);
      expect(ns.stdout.split('\n')).not.toContain(NS);
      expect(await backends(f)).toEqual(empty);
      expect(readdirSync(f.state).filter((n) => n.startsWith('warm-up'))).toEqual([]);
    } finally {
      await f.stop();
    }
  }, 120_000);

  it('warm_up = false turns it off everywhere; a warm-up clears what an interrupted one left in its namespace', async () => {
    await ensureFixtures();
    const config = (warmUp: boolean) => `version = 3\n[plugins."io.flotilla.process.v1"]\n  initial_backoff = "1500ms"\n  warm_up = ${String(warmUp)}\n`;
    const f = await startFlotilla({ logLevel: 'debug', config: config(false) });
    try {
      expect(logged(f, 'warmed up')).toEqual([]);
      expect(logged(f, 'warm-up done')).toEqual([]);
      // What a warm-up cut short by a crash could have left: an image with its blobs and snapshots, a lease.
      const pulled = await f.ctr(['images', 'pull', '--plain-http', `${REGISTRY}/fixtures/busybox:latest`], { namespace: NS });
      expect(pulled.code, pulled.stderr).toBe(0);
      expect((await f.ctr(['leases', 'create', '--id', 'left-over'], { namespace: NS })).code).toBe(0);
      expect((await backends(f)).snapshots).not.toEqual([]);

      f.daemon.kill('SIGKILL');
      await new Promise((r) => f.daemon.once('exit', r));
      writeFileSync(join(f.dir, 'config.toml'), config(true));
      await f.restart();
      expect(logged(f, 'warm-up done')).toHaveLength(1);
      const ns = await f.ctr(['namespaces', 'ls', '-q']);
      expect(ns.stdout.split('\n')).not.toContain(NS);
      expect(await backends(f)).toEqual(empty);
    } finally {
      await f.stop();
    }
  }, 180_000);
});
