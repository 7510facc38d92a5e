import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata } from 'nice-grpc';
import { Diff } from '@flotilla/proto/containerd/services/diff/v1/diff_pb';
import { NotFoundError } from '@flotilla/errdefs';
import { clientOf, dialUnix } from '@flotilla/rpc/client';
import { mountAll, mountsToProto, remoteSnapshotter, unmountAll } from '@flotilla/snapshots';
import { startFlotilla, type Flotilla } from './support/flotilla.js';
import { run } from './support/exec.js';
import { startContainerd, type Containerd } from './support/containerd.js';
import { ensureFixtures, REGISTRY } from './support/fixtures.js';
import { imageChainId, readSnapshotTree } from './support/image-tree.js';
import { buildOciArchive } from './support/oci-archive.js';
import { diffTrees, readTree } from './support/tree.js';

// Issue 4's acceptance: `ctr images pull` through the gateway unpacks, through the overlay snapshotter
// process and the diff service, exactly the trees Debian's containerd unpacks from the same registry.

const IMAGES = ['busybox', 'layers', 'large', 'multiarch'] as const;
const ref = (name: string) => `${REGISTRY}/fixtures/${name}:latest`;

let f: Flotilla;
let c: Containerd;
const dir = mkdtempSync(join(tmpdir(), 'pull-test-'));

beforeAll(async () => {
  await ensureFixtures();
  [f, c] = await Promise.all([startFlotilla(), startContainerd()]);
}, 900_000);
afterAll(async () => {
  await Promise.all([f?.stop(), c?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('ctr images pull through the gateway', () => {
  it.each(IMAGES)('pulls fixtures/%s, and images check reports it complete and unpacked', async (name) => {
    const pull = await f.ctr(['images', 'pull', '--plain-http', ref(name)]);
    expect(pull.code, pull.stderr).toBe(0);
    const check = await f.ctr(['images', 'check', `name==${ref(name)}`]);
    expect(check.code, check.stderr).toBe(0);
    // REF TYPE DIGEST STATUS SIZE UNPACKED
    const line = check.stdout.split('\n').find((l) => l.startsWith(ref(name)));
    expect(line, check.stdout).toMatch(/\scomplete \((\d+)\/\1\)\s.*\strue\s*$/);
  }, 300_000);

  it.each(IMAGES)('unpacks fixtures/%s to exactly the tree containerd unpacks', async (name) => {
    const pull = await c.ctr(['images', 'pull', '--plain-http', ref(name)]);
    expect(pull.code, pull.stderr).toBe(0);
    const chain = await imageChainId(`fixtures/${name}`);
    const ours = await readSnapshotTree(f.address, 'default', 'overlayfs', chain);
    const theirs = await readSnapshotTree(c.address, 'default', 'overlayfs', chain);
    expect(ours.size).toBeGreaterThan(10);
    expect(diffTrees(ours, theirs, ['flotilla', 'containerd'])).toEqual([]);
  }, 300_000);
});

describe('a layer that tries to leave the root', () => {
  // Each image attacks one way. Whatever the outcome (refused, or contained inside the snapshot as
  // containerd contains symlinked parents), nothing may appear outside.
  const outside = join(dir, 'outside');
  const attacks = {
    dotdot: [[{ type: 'file', name: `../../../../../../..${outside}/dotdot`, content: 'x' }]],
    symlinkParent: [[
      { type: 'symlink', name: 'evil', target: outside },
      { type: 'file', name: 'evil/through-symlink', content: 'x' },
    ]],
    symlinkInEarlierLayer: [
      [{ type: 'symlink', name: 'evil', target: outside }],
      [{ type: 'file', name: 'evil/through-lower-symlink', content: 'x' }],
    ],
    hardlinkOut: [[{ type: 'hardlink', name: 'stolen', target: `../../../../../../..${outside}/secret` }]],
  } as const;

  beforeAll(() => {
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, 'secret'), 'do not link me');
  });

  it.each(Object.keys(attacks) as (keyof typeof attacks)[])('%s: writes nothing outside the snapshot', async (attack) => {
    const archive = join(dir, `${attack}.tar`);
    await buildOciArchive(archive, `escape/${attack.toLowerCase()}:latest`, attacks[attack] as never);
    // In a namespace of its own, so the snapshots it may leave do not show in the ctr snapshots cases below.
    const r = await f.ctr(['images', 'import', archive], { namespace: 'escape' });
    expect(readdirSync(outside).sort()).toEqual(['secret']);
    if (attack === 'dotdot' || attack === 'hardlinkOut') {
      // A name or link that climbs out is refused, naming the entry.
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(attack === 'dotdot' ? /dotdot/ : /stolen/);
    }
  }, 120_000);
});

describe('ctr snapshots', () => {
  const norm = (s: string) => s.replace(/"(Created|Updated)": "[^"]*"/g, '"$1": "<time>"');
  /**
   * Let the collection that the last pull's lease deletion scheduled finish (an image removed with --sync
   * waits for one): a snapshot ctr prepares has no lease, and a collection running after the prepare
   * would take it, as containerd's would.
   */
  const settle = async (d: Flotilla | Containerd, image: string) => {
    expect((await d.ctr(['images', 'tag', '--force', image, `${image}-settle`])).code).toBe(0);
    expect((await d.ctr(['images', 'rm', '--sync', `${image}-settle`])).code).toBe(0);
  };

  it('ls, info, tree and usage print what containerd prints', async () => {
    for (const d of [f, c]) expect((await d.ctr(['images', 'pull', '--plain-http', ref('layers')])).code).toBe(0);
    const chain = await imageChainId('fixtures/layers');
    for (const args of [['snapshots', 'ls'], ['snapshots', 'tree'], ['snapshots', 'info', chain], ['snapshots', 'usage', chain]]) {
      const [ours, theirs] = await Promise.all([f.ctr(args), c.ctr(args)]);
      expect({ code: ours.code, out: norm(ours.stdout) }, args.join(' ')).toEqual({ code: theirs.code, out: norm(theirs.stdout) });
    }
  }, 300_000);

  it('mounts prints a mount of the snapshot, and rm refuses a parent but removes a leaf, as containerd', async () => {
    const chain = await imageChainId('fixtures/layers');
    for (const d of [f, c]) {
      await settle(d, ref('layers'));
      expect((await d.ctr(['snapshots', 'prepare', 'leaf', chain])).code).toBe(0);
    }
    const [ours, theirs] = await Promise.all([f.ctr(['snapshots', 'mounts', '/mnt/x', 'leaf']), c.ctr(['snapshots', 'mounts', '/mnt/x', 'leaf'])]);
    expect(ours.code).toBe(0);
    // Same command shape; the directories are each daemon's own.
    const shape = (s: string) => s.replace(/\/[^\s,:]*\/snapshots\/\d+/g, '<snapshot>');
    expect(shape(ours.stdout)).toBe(shape(theirs.stdout));
    const [parentOurs, parentTheirs] = await Promise.all([f.ctr(['snapshots', 'rm', chain]), c.ctr(['snapshots', 'rm', chain])]);
    expect(parentOurs.code).not.toBe(0);
    expect(parentTheirs.code).not.toBe(0);
    const [leafOurs, leafTheirs] = await Promise.all([f.ctr(['snapshots', 'rm', 'leaf']), c.ctr(['snapshots', 'rm', 'leaf'])]);
    expect([leafOurs.code, leafTheirs.code]).toEqual([0, 0]);
    expect((await f.ctr(['snapshots', 'ls'])).stdout).not.toMatch(/^leaf\s/m);
  }, 120_000);

  it('diff of a changed snapshot gives a layer that applies back to the same tree', async () => {
    const chain = await imageChainId('fixtures/busybox');
    expect((await f.ctr(['images', 'pull', '--plain-http', ref('busybox')])).code).toBe(0);
    const channel = dialUnix(f.address);
    const md = Metadata({ 'containerd-namespace': 'default' });
    const sn = remoteSnapshotter(channel, 'overlayfs', { namespace: 'default' });
    const work = mkdtempSync(join(dir, 'work-'));
    try {
      // Change a tree: a new file, a changed one, a removed one, a new directory, a removed directory.
      // gc.root: these snapshots have no lease, and a collection may run at any time.
      const root = { labels: { 'containerd.io/gc.root': 'test' } };
      const changed = await sn.prepare('changed', chain, root);
      await mountAll(changed, work);
      try {
        writeFileSync(join(work, 'new-file'), 'new');
        writeFileSync(join(work, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
        unlinkSync(join(work, 'etc/group'));
        mkdirSync(join(work, 'new-dir/nested'), { recursive: true });
        rmSync(join(work, 'var'), { recursive: true });
      } finally {
        await unmountAll(work);
      }
      // ctr writes the layer itself to stdout; --keep leaves the blob in the content store to apply.
      const layerFile = join(dir, 'changed.layer');
      const diff = await run('sh', ['-c', `ctr -a ${f.address} snapshots diff --keep changed > ${layerFile}`]);
      expect(diff.code, diff.stderr).toBe(0);
      const layer = readFileSync(layerFile);
      expect(layer.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])); // gzip, containerd's default
      const digest = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
      const size = BigInt(layer.length);

      // Apply it to a fresh child of the same parent, through the diff service.
      const applied = await sn.prepare('applied', chain, root);
      await clientOf(Diff, channel).apply(
        { diff: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size }, mounts: mountsToProto(applied) },
        { metadata: md },
      );
      // The blob is this namespace's: another namespace cannot apply it, as with containerd's differ.
      await expect(clientOf(Diff, channel).apply(
        { diff: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size }, mounts: mountsToProto(applied) },
        { metadata: Metadata({ 'containerd-namespace': 'elsewhere' }) },
      )).rejects.toBeInstanceOf(NotFoundError);
      const read = async (key: string) => {
        await mountAll(await sn.mounts(key), work);
        try {
          return await readTree(work);
        } finally {
          await unmountAll(work);
        }
      };
      const a = await read('changed');
      const b = await read('applied');
      expect(a.get('/new-file')?.sha256).toBeDefined();
      expect(a.has('/etc/group')).toBe(false);
      expect(diffTrees(a, b, ['changed', 'applied'])).toEqual([]);
    } finally {
      await sn.remove('changed').catch(() => {});
      await sn.remove('applied').catch(() => {});
      channel.close();
      if (existsSync(work)) rmSync(work, { recursive: true, force: true });
    }
  }, 120_000);
});
