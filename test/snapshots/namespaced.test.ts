import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { Metadata } from 'nice-grpc';
import { Images } from '@flotilla/proto/containerd/services/images/v1/images_pb';
import { clientOf } from '@flotilla/rpc/client';
import { run, type ExecResult } from '../support/exec.js';
import { startFlotilla, type Flotilla } from '../support/flotilla.js';
import { startContainerd, type Containerd } from '../support/containerd.js';
import { ctrOutcome } from '../support/ctr-outcome.js';

// The gateway's namespaced snapshot metadata through the real ctr: side by side with Debian's containerd
// for what a client sees, and on its own for garbage collection down to the overlay process's disk.

let f: Flotilla;
let c: Containerd;
beforeAll(async () => {
  [f, c] = await Promise.all([startFlotilla(), startContainerd()]);
});
afterAll(async () => {
  await Promise.all([f?.stop(), c?.stop()]);
});

const ok = (r: ExecResult) => expect(r.code, r.stderr).toBe(0);

/** ctr pins what it makes with a gc.root label stamped with the time; the two daemons' stamps differ. */
const GC_ROOT = 'containerd.io/gc.root';

/** Go prints label lists (`a=1,b=2`) in map order, a new one each run: compare them sorted, unstamped. */
function normalize(stdout: string): string {
  return stdout
    .replace(/containerd\.io\/gc\.root=[^,\s]*/g, `${GC_ROOT}=<time>`)
    .replace(/\S*=\S*(?:,\S*=\S*)+/g, (list) => list.split(',').sort().join(','));
}

/** `ctr snapshots info` without its times, which no two daemons share. */
function infoWithoutTimes(stdout: string): unknown {
  const { Created: _c, Updated: _u, Labels, ...rest } = JSON.parse(stdout) as { Labels?: Record<string, string> } & Record<string, unknown>;
  const labels = { ...Labels };
  if (labels[GC_ROOT] !== undefined) labels[GC_ROOT] = '<time>';
  return { ...rest, Labels: labels };
}

const script: string[][] = [
  ['snapshots', 'prepare', 'base-a'],
  ['snapshots', 'commit', 'base', 'base-a'],
  ['snapshots', 'prepare', 'top-a', 'base'],
  ['snapshots', 'commit', 'top', 'top-a'],
  ['snapshots', 'prepare', 'work', 'top'],
  ['snapshots', 'view', 'look', 'top'],
  // A key in use, a parent that does not exist, a name in use, a key that does not exist.
  ['snapshots', 'prepare', 'work', 'top'],
  ['snapshots', 'view', 'base', ''],
  ['snapshots', 'prepare', 'x', 'nosuch'],
  ['snapshots', 'commit', 'top', 'work'],
  ['snapshots', 'commit', 'other', 'nosuch'],
  ['snapshots', 'ls'],
  ['snapshots', 'tree'],
  ['snapshots', 'label', 'top', 'tier=gold', 'team=storage'],
  ['snapshots', 'label', 'top', 'team='],
  ['snapshots', 'info', 'nosuch'],
  // Another namespace sees none of it.
  ['-n', 'elsewhere', 'snapshots', 'ls'],
  ['-n', 'elsewhere', 'snapshots', 'rm', 'base'],
  // A parent cannot go before its children; a namespace with snapshots cannot go at all.
  ['snapshots', 'rm', 'base'],
  ['namespaces', 'rm', 'snaps'],
  ['snapshots', 'rm', 'look', 'work', 'top'],
  ['snapshots', 'ls'],
  ['snapshots', 'rm', 'base'],
  ['snapshots', 'ls'],
  ['namespaces', 'rm', 'snaps'],
];

describe('namespaced snapshots through the real ctr, side by side with containerd', () => {
  it('every command gives the same output and outcome', async () => {
    for (const step of script) {
      const args = step[0] === '-n' ? step : ['-n', 'snaps', ...step];
      const [want, got] = [await c.ctr(args), await f.ctr(args)];
      const label = `ctr ${args.join(' ')}`;
      expect(ctrOutcome(got), `${label}\ncontainerd: ${want.stderr}\nflotilla: ${got.stderr}`).toBe(ctrOutcome(want));
      expect(normalize(got.stdout), label).toBe(normalize(want.stdout));
      if (args.includes('namespaces') && want.code !== 0) {
        // containerd names what the namespace still holds; so must we.
        expect(got.stderr.trim().split('\n').at(-1), label).toBe(want.stderr.trim().split('\n').at(-1));
      }
    }
  });

  it('info shows the namespace\'s name, parent, kind and labels', async () => {
    const steps = [
      ['snapshots', 'prepare', 'i-base-a'],
      ['snapshots', 'commit', 'i-base', 'i-base-a'],
      ['snapshots', 'prepare', 'i-work', 'i-base'],
      ['snapshots', 'label', 'i-work', 'a=1'],
    ];
    for (const s of steps) {
      ok(await c.ctr(['-n', 'info', ...s]));
      ok(await f.ctr(['-n', 'info', ...s]));
    }
    for (const key of ['i-base', 'i-work']) {
      const [want, got] = [await c.ctr(['-n', 'info', 'snapshots', 'info', key]), await f.ctr(['-n', 'info', 'snapshots', 'info', key])];
      ok(want);
      ok(got);
      expect(infoWithoutTimes(got.stdout), key).toEqual(infoWithoutTimes(want.stdout));
    }
  });
});

describe('garbage collection of snapshots', () => {
  const NS = 'gc';
  const sha256 = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

  async function ingest(body: string): Promise<string> {
    const digest = sha256(body);
    ok(await run('ctr', ['-a', f.address, '-n', NS, 'content', 'ingest', '--expected-size', String(body.length), '--expected-digest', digest, `ingest-${digest}`], { input: body }));
    return digest;
  }

  /** The directories of the overlay process's snapshots, whatever namespace they belong to. */
  async function overlayDirs(): Promise<string[]> {
    const overlay = (await f.plugins()).find((p) => p.type === 'io.containerd.snapshotter.v1' && p.id === 'overlayfs');
    const root = overlay?.exports['root'];
    if (root === undefined) throw new Error('the overlay process does not report its root');
    return readdirSync(`${root}/snapshots`);
  }

  const keys = async () => (await f.ctr(['-n', NS, 'snapshots', 'ls'])).stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]).sort();

  /** Deleting a lease asks for a collection, and `--sync` waits for it. */
  const collect = async () => {
    ok(await f.ctr(['-n', NS, 'leases', 'create', '--id', 'tick']));
    ok(await f.ctr(['-n', NS, 'leases', 'rm', '--sync', 'tick']));
  };

  it('an image keeps the snapshots its config names; after `ctr images rm` they leave the metadata and the disk', async () => {
    // Whatever earlier tests removed is swept first, so that the counts below are this test's alone.
    await collect();
    const before = (await overlayDirs()).length;
    // What unpacking an image leaves: a chain of committed layers, and the image's config blob naming
    // the top of the chain for this snapshotter.
    ok(await f.ctr(['-n', NS, 'snapshots', 'prepare', 'extract-1']));
    ok(await f.ctr(['-n', NS, 'snapshots', 'commit', 'layer-1', 'extract-1']));
    ok(await f.ctr(['-n', NS, 'snapshots', 'prepare', 'extract-2', 'layer-1']));
    ok(await f.ctr(['-n', NS, 'snapshots', 'commit', 'layer-2', 'extract-2']));
    // Nothing keeps this one.
    ok(await f.ctr(['-n', NS, 'snapshots', 'prepare', 'scratch']));
    // ctr pins what it prepares and commits with a gc.root label; an unpacker's snapshots carry none (a
    // lease holds them while it works), so take it off.
    for (const key of ['layer-1', 'layer-2', 'scratch']) ok(await f.ctr(['-n', NS, 'snapshots', 'label', key, 'containerd.io/gc.root=']));
    const config = await ingest('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    ok(await f.ctr(['-n', NS, 'content', 'label', config, 'containerd.io/gc.ref.snapshot.overlayfs=layer-2']));
    const manifestBody = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { digest: config } });
    const manifest = await ingest(manifestBody);
    ok(await f.ctr(['-n', NS, 'content', 'label', manifest, `containerd.io/gc.ref.content.config=${config}`]));
    await clientOf(Images, f.channel).create(
      { image: { name: 'example.test/unpacked:latest', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifest, size: BigInt(manifestBody.length) } } },
      { metadata: Metadata({ 'containerd-namespace': NS }) },
    );
    expect((await overlayDirs()).length).toBe(before + 3);

    await collect();
    expect(await keys()).toEqual(['layer-1', 'layer-2']);
    expect((await overlayDirs()).length).toBe(before + 2);

    ok(await f.ctr(['-n', NS, 'images', 'rm', '--sync', 'example.test/unpacked:latest']));
    expect(await keys()).toEqual([]);
    expect((await f.ctr(['-n', NS, 'content', 'ls', '-q'])).stdout.trim()).toBe('');
    // Removed from the backend, and its directories reclaimed by the backend's Cleanup.
    expect((await overlayDirs()).length).toBe(before);
    ok(await f.ctr(['namespaces', 'rm', NS]));
  });

  it('`ctr snapshots rm` takes the snapshot\'s directory too, once collection has swept', async () => {
    await collect();
    const before = (await overlayDirs()).length;
    ok(await f.ctr(['-n', NS, 'snapshots', 'prepare', 'short-lived', '']));
    expect((await overlayDirs()).length).toBe(before + 1);
    ok(await f.ctr(['-n', NS, 'snapshots', 'rm', 'short-lived']));
    await collect();
    expect((await overlayDirs()).length).toBe(before);
  });
});
