import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata } from 'nice-grpc';
import { Containers } from '@flotilla/proto/containerd/services/containers/v1/containers_pb';
import { clientOf } from '@flotilla/rpc/client';
import { startFlotilla, type Flotilla } from './support/flotilla.js';
import { startContainerd, type Containerd } from './support/containerd.js';
import { ensureFixtures, REGISTRY } from './support/fixtures.js';
import { waitFor, type ExecResult } from './support/exec.js';

// The containers service against Debian's containerd, through the same ctr on both sides. `--rootfs`
// gives ctr a container without an image, so the script needs no pull and compares exactly; the image
// cases (a snapshot the container holds) pull from the fixtures registry through the gateway.

const dir = mkdtempSync(join(tmpdir(), 'containers-test-'));
const rootfs = join(dir, 'rootfs');
mkdirSync(rootfs);
const IMAGE = `${REGISTRY}/fixtures/busybox:latest`;

let f: Flotilla;
let c: Containerd;
beforeAll(async () => {
  [f, c] = await Promise.all([startFlotilla(), startContainerd()]);
});
afterAll(async () => {
  await Promise.all([f?.stop(), c?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/**
 * What may differ between two runs: creation and update times (in `containers info`), and the order Go
 * gives a map it prints as `k=v,k=v` (`containers label`).
 */
function normalize(r: ExecResult): string {
  const stdout = r.stdout
    .replace(/"(CreatedAt|UpdatedAt)": "[^"]*"/g, '"$1": "<time>"')
    .replace(/^\S*=\S*(?:,\S*=\S*)+$/gm, (list) => list.split(',').sort().join(','));
  return `exit ${r.code}\n${stdout}${r.stderr.replace(/^time="[^"]*" /gm, '')}`;
}

const script: string[][] = [
  ['containers', 'create', '--rootfs', rootfs, 'c1'],
  ['containers', 'create', '--label', 'a=b', '--label', 'tier=gold', '--rootfs', rootfs, 'c2'],
  ['c', 'create', '--label', 'tier=silver', '--rootfs', rootfs, 'web-1'],
  ['containers', 'create', '--rootfs', rootfs, 'c1'],
  ['containers', 'create', '--rootfs', rootfs, 'bad..id'],
  ['containers', 'ls'],
  ['containers', 'ls', '-q'],
  ['containers', 'ls', 'labels.a==b'],
  ['containers', 'ls', 'labels.tier'],
  ['containers', 'ls', 'labels.tier~=^s', 'id==c1'],
  ['containers', 'ls', 'id~=^c,labels.tier!=gold'],
  ['containers', 'ls', 'runtime.name==io.containerd.runc.v2'],
  ['containers', 'ls', 'image'],
  ['containers', 'ls', 'snapshotter'],
  ['containers', 'ls', 'id=='],
  ['containers', 'label', 'c1', 'x=y', 'z=w'],
  ['containers', 'label', 'c1', 'x='],
  ['containers', 'label', 'c1'],
  ['containers', 'label', 'nope', 'x=y'],
  ['containers', 'info', 'c1'],
  ['containers', 'info', 'c2'],
  ['containers', 'info', 'nope'],
  ['-n', 'other', 'containers', 'ls', '-q'],
  ['-n', 'other', 'containers', 'create', '--rootfs', rootfs, 'c1'],
  ['-n', 'other', 'containers', 'ls', '-q'],
  ['namespaces', 'rm', 'other'],
  ['containers', 'rm', 'c1'],
  ['containers', 'rm', 'c1'],
  ['containers', 'rm', 'nope', 'c2'],
  ['containers', 'ls'],
  ['containers', 'rm', 'web-1'],
  ['-n', 'other', 'containers', 'delete', 'c1'],
  ['namespaces', 'rm', 'other'],
  ['namespaces', 'ls', '-q'],
];

describe('ctr containers against containerd', () => {
  it('answers the whole script as containerd does', async () => {
    const ours: string[] = [];
    const theirs: string[] = [];
    for (const args of script) {
      const [a, b] = await Promise.all([f.ctr(args), c.ctr(args)]);
      ours.push(`$ ctr ${args.join(' ')}\n${normalize(a)}`);
      theirs.push(`$ ctr ${args.join(' ')}\n${normalize(b)}`);
    }
    expect(ours.join('\n')).toBe(theirs.join('\n'));
  }, 120_000);

  it('round-trips what ctr cannot set: runtime options, extensions and the sandbox, byte for byte', async () => {
    const client = clientOf(Containers, f.channel);
    const md = { metadata: Metadata({ 'containerd-namespace': 'raw' }) };
    const spec = { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: new TextEncoder().encode('{"ociVersion":"1.1.0"}') };
    const options = { typeUrl: 'containerd.runc.v1.Options', value: new Uint8Array([0x12, 0x04, 0x63, 0x72, 0x75, 0x6e]) };
    const ext = { typeUrl: 'example.com/Ext', value: new Uint8Array([0, 1, 2, 255]) };
    await client.create({ container: { id: 'raw', runtime: { name: 'io.containerd.runc.v2', options }, spec, extensions: { ext }, sandbox: 'sb-1' } }, md);
    const got = (await client.get({ id: 'raw' }, md)).container!;
    expect([got.runtime?.options?.typeUrl, Buffer.from(got.runtime!.options!.value).toString('hex')]).toEqual([options.typeUrl, Buffer.from(options.value).toString('hex')]);
    expect(Buffer.from(got.extensions['ext']!.value).toString('hex')).toBe('000102ff');
    expect(got.sandbox).toBe('sb-1');
    const info = await f.ctr(['-n', 'raw', 'containers', 'info', '--spec', 'raw']);
    expect(info.stdout).toMatch(/"ociVersion": "1\.1\.0"/);
    await client.delete({ id: 'raw' }, md);
  });
});

// These need the fixtures registry and `ctr images pull` through the gateway (issue 4's diff and transfer
// processes).
describe('ctr containers with an image (pulled from the fixtures registry)', () => {
  beforeAll(async () => {
    await ensureFixtures();
    const pull = await f.ctr(['images', 'pull', '--plain-http', IMAGE]);
    expect(pull.code, pull.stderr).toBe(0);
  }, 900_000);

  const snapshots = async () => (await f.ctr(['snapshots', 'ls'])).stdout;

  it('creates a container on the image\'s snapshot, which outlives the image until the container goes', async () => {
    const create = await f.ctr(['containers', 'create', '--label', 'role=web', IMAGE, 'b1']);
    expect(create.code, create.stderr).toBe(0);
    const ls = await f.ctr(['containers', 'ls', 'image~=busybox']);
    expect(ls.stdout).toMatch(new RegExp(`^b1\\s+${IMAGE.replace(/[.]/g, '\\.')}\\s+io\\.containerd\\.runc\\.v2\\s*$`, 'm'));
    const info = JSON.parse((await f.ctr(['containers', 'info', 'b1'])).stdout) as Record<string, unknown>;
    expect(info).toMatchObject({ ID: 'b1', Image: IMAGE, Snapshotter: 'overlayfs', SnapshotKey: 'b1', Labels: { role: 'web' } });
    expect(await snapshots()).toMatch(/^b1\s+sha256:\S+\s+Active\s*$/m);

    // ctr made the snapshot under a lease it has deleted since: the container alone holds it, and through
    // it the image's layers, even once the image is gone and collected.
    const rmi = await f.ctr(['images', 'rm', '--sync', IMAGE]);
    expect(rmi.code, rmi.stderr).toBe(0);
    const after = await snapshots();
    expect(after).toMatch(/^b1\s+(sha256:\S+)\s+Active\s*$/m);
    const parent = /^b1\s+(sha256:\S+)/m.exec(after)![1]!;
    expect(after).toContain(`${parent} `);

    // Removing the container removes its snapshot (ctr does that), and collection takes the layers.
    const rm = await f.ctr(['containers', 'rm', 'b1']);
    expect(rm.code, rm.stderr).toBe(0);
    await waitFor(async () => (await snapshots()).trim().split('\n').length === 1, 'the layers to be collected');
    expect((await f.ctr(['images', 'pull', '--plain-http', IMAGE])).code).toBe(0);
  }, 120_000);

  it('refuses the runtimes containerd 2.0 removed, naming io.containerd.runc.v2, and leaves nothing behind', async () => {
    for (const args of [
      ['containers', 'create', '--runtime', 'io.containerd.runtime.v1.linux', IMAGE, 'legacy-1'],
      ['run', '--runtime', 'io.containerd.runc.v1', IMAGE, 'legacy-2', 'true'],
    ]) {
      const r = await f.ctr(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(/not supported: .*removed in containerd 2\.0; use io\.containerd\.runc\.v2: not implemented/);
    }
    expect((await f.ctr(['containers', 'ls', '-q'])).stdout).not.toMatch(/legacy-/);
    // The snapshots ctr prepared for them were only leased, and go with the next collection.
    await waitFor(async () => !/legacy-/.test(await snapshots()), 'the refused containers\' snapshots to be collected');
  });
});
