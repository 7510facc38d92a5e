import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { startContainerd, type Containerd } from './support/containerd.js';
import { startServiceProcess, type ServiceProcess } from './support/service-process.js';
import { run } from './support/exec.js';
import { ensureFixtures, REGISTRY } from './support/fixtures.js';
import { imageChainId, readSnapshotTree } from './support/image-tree.js';
import { diffTrees } from './support/tree.js';

// A real containerd loads Flotilla's overlay snapshotter process as `[proxy_plugins.flotilla] type =
// "snapshot"`: it unpacks images into it with its own differ and runs containers on its mounts. The trees
// it unpacks there must be the trees it unpacks into its own overlayfs snapshotter.
let p: ServiceProcess;
let c: Containerd;

beforeAll(async () => {
  await ensureFixtures();
  p = await startServiceProcess('snapshotter-overlay');
  c = await startContainerd({
    extraConfig: `
[proxy_plugins.flotilla]
  type = "snapshot"
  address = "${p.socket}"
`,
  });
}, 600_000);

afterAll(async () => {
  // Containers and images go first: their snapshots are mounted from our root.
  await c?.ctr(['containers', 'rm', 'proxied']).catch(() => {});
  await c?.stop();
  await p?.stop();
});

describe('the overlay snapshotter process as containerd\'s proxy snapshotter', () => {
  it('is listed by containerd', async () => {
    const r = await c.ctr(['plugins', 'ls', 'type==io.containerd.snapshotter.v1']);
    expect(r.stdout).toMatch(/^io\.containerd\.snapshotter\.v1\s+flotilla\s+-\s+ok\s*$/m);
  });

  it.each(['busybox', 'layers'])('holds the same tree of fixtures/%s as containerd\'s own overlayfs', async (name) => {
    const ref = `${REGISTRY}/fixtures/${name}:latest`;
    for (const snapshotter of ['flotilla', 'overlayfs']) {
      const pull = await c.ctr(['images', 'pull', '--plain-http', '--snapshotter', snapshotter, ref]);
      expect(pull.code, pull.stderr).toBe(0);
    }
    const chain = await imageChainId(`fixtures/${name}`);
    // The layers live in our process's root, not containerd's.
    const ls = await run('sh', ['-c', `ls ${join(p.root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots')} | wc -l`]);
    expect(Number(ls.stdout.trim())).toBeGreaterThan(0);
    const ours = await readSnapshotTree(c.address, 'default', 'flotilla', chain);
    const theirs = await readSnapshotTree(c.address, 'default', 'overlayfs', chain);
    expect(ours.size).toBeGreaterThan(10);
    expect(diffTrees(ours, theirs, ['flotilla', 'overlayfs'])).toEqual([]);
  }, 300_000);

  it('runs a container on its mounts: ctr run --snapshotter flotilla --rm fixtures/busybox echo ok', async () => {
    const ref = `${REGISTRY}/fixtures/busybox:latest`;
    const r = await c.ctr(['run', '--rm', '--snapshotter', 'flotilla', ref, 'proxied', 'echo', 'ok']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('ok');
  }, 120_000);
});
