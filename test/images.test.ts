import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metadata, type Channel } from 'nice-grpc';
import { Images } from '@flotilla/proto/containerd/services/images/v1/images_pb';
import { kindOf } from '@flotilla/errdefs';
import { clientOf, dialUnix } from '@flotilla/rpc/client';
import { startFlotilla, type Flotilla } from './support/flotilla.js';
import { startContainerd, type Containerd } from './support/containerd.js';
import { ctrOutcome } from './support/ctr-outcome.js';
import { waitFor } from './support/exec.js';

// The images service against Debian's containerd, with the same client on both sides: containerd is the
// specification. ctr cannot create an image without pulling or importing content, so each test seeds
// images over gRPC with a target descriptor, then drives ctr.

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
// ctr images ls walks an image's target through content for its size and platforms. A layer media type
// has no children, so ls prints the descriptor's own size and never reads content...
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
// ...while a manifest it must read: neither side has it, and both must print the same thing for that.
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const imagesClient = (ch: Channel) => clientOf(Images, ch);
type ImagesClient = ReturnType<typeof imagesClient>;

let f: Flotilla;
let c: Containerd;
beforeAll(async () => {
  [f, c] = await Promise.all([startFlotilla(), startContainerd()]);
});
afterAll(async () => {
  await Promise.all([f?.stop(), c?.stop()]);
});



/** Go prints map-ordered label lists (`a=1,b=2`) in random order; compare them sorted. */
function normalize(stdout: string): string {
  return stdout.replace(/\S*=\S*(?:,\S*=\S*)+/g, (list) => list.split(',').sort().join(','));
}

/**
 * stderr without log timestamps. ctr logs the content store's own error when ls cannot read a manifest;
 * its wording belongs to the content service, not to images, so only the fact of it is compared.
 */
function logged(stderr: string): string {
  return stderr.replace(/^time="[^"]*" /gm, '').replace(/ error="content [^"]*"$/gm, ' error="<content error>"');
}

async function seed(address: string, namespace: string, images: { name: string; mediaType: string; digest: string; size: bigint; labels?: Record<string, string> }[]) {
  const ch = dialUnix(address);
  try {
    const client = clientOf(Images, ch);
    for (const i of images) {
      await client.create(
        { image: { name: i.name, labels: i.labels ?? {}, target: { mediaType: i.mediaType, digest: i.digest, size: i.size } } },
        { metadata: Metadata({ 'containerd-namespace': namespace }) },
      );
    }
  } finally {
    ch.close();
  }
}

const seeds = [
  { name: 'docker.io/library/base:1', mediaType: LAYER, digest: D1, size: 1234n, labels: { a: 'b', tier: 'gold' } },
  { name: 'docker.io/library/other:1', mediaType: LAYER, digest: D2, size: 5n * 1024n * 1024n },
  { name: 'docker.io/library/manifest:1', mediaType: MANIFEST, digest: D2, size: 500n },
];

const script: string[][] = [
  ['-n', 'imgs', 'images', 'ls'],
  ['-n', 'imgs', 'images', 'ls', '-q'],
  ['images', 'ls', '-q'], // the default namespace has none
  ['-n', 'imgs', 'images', 'tag', 'docker.io/library/base:1', 'docker.io/library/base:2', 'docker.io/library/base:3'],
  ['-n', 'imgs', 'images', 'tag', 'docker.io/library/base:1', 'docker.io/library/base:2'],
  ['-n', 'imgs', 'images', 'tag', '--force', 'docker.io/library/other:1', 'docker.io/library/base:2'],
  ['-n', 'imgs', 'images', 'tag', 'docker.io/library/nope:1', 'docker.io/library/nope:2'],
  ['-n', 'imgs', 'images', 'ls'],
  ['-n', 'imgs', 'images', 'label', 'docker.io/library/base:3', 'x=y'],
  ['-n', 'imgs', 'images', 'label', 'docker.io/library/base:3', 'tier='],
  ['-n', 'imgs', 'images', 'ls'],
  ['-n', 'imgs', 'images', 'label', '-r', 'docker.io/library/base:3', 'only=1'],
  ['-n', 'imgs', 'images', 'label', 'docker.io/library/nope:1', 'x=y'],
  ['-n', 'imgs', 'images', 'ls', '-q', 'name==docker.io/library/base:2'],
  ['-n', 'imgs', 'images', 'ls', '-q', 'labels.a==b'],
  ['-n', 'imgs', 'images', 'ls', '-q', 'labels.only'],
  ['-n', 'imgs', 'images', 'ls', '-q', `target.digest==${D2}`],
  ['-n', 'imgs', 'images', 'ls', '-q', `target.mediatype==${MANIFEST}`],
  ['-n', 'imgs', 'images', 'ls', '-q', 'name~=base', 'labels.tier==gold'],
  ['-n', 'imgs', 'images', 'ls', '-q', 'name~=base,labels.tier==gold'],
  ['-n', 'imgs', 'images', 'ls', 'labels.a==b'],
  ['-n', 'imgs', 'images', 'ls', '-q', 'name=='],
  // A namespace that holds images cannot go.
  ['namespaces', 'rm', 'imgs'],
  ['namespaces', 'ls', '-q'],
  ['-n', 'imgs', 'images', 'rm', 'docker.io/library/base:2'],
  // ctr warns about an unknown image and carries on.
  ['-n', 'imgs', 'images', 'rm', 'docker.io/library/nope:1', 'docker.io/library/base:3'],
  ['-n', 'imgs', 'images', 'rm', '--sync', 'docker.io/library/base:1', 'docker.io/library/other:1'],
  ['-n', 'imgs', 'images', 'ls', '-q'],
  ['namespaces', 'rm', 'imgs'],
  ['-n', 'imgs', 'images', 'rm', 'docker.io/library/manifest:1'],
  ['-n', 'imgs', 'images', 'ls'],
  ['namespaces', 'rm', 'imgs'],
  ['namespaces', 'ls', '-q'],
];

describe('images through the real ctr, side by side with containerd', () => {
  it('every command gives the same output and outcome', async () => {
    await Promise.all([seed(c.address, 'imgs', seeds), seed(f.address, 'imgs', seeds)]);
    for (const args of script) {
      const [want, got] = [await c.ctr(args), await f.ctr(args)];
      const label = `ctr ${args.join(' ')}`;
      expect(ctrOutcome(got), `${label}\ncontainerd: ${want.stderr}\nflotilla: ${got.stderr}`).toBe(ctrOutcome(want));
      expect(normalize(got.stdout), label).toBe(normalize(want.stdout));
      expect(logged(got.stderr), label).toBe(logged(want.stderr));
    }
  });
});

describe('images over gRPC, side by side with containerd', () => {
  const md = (namespace: string) => ({ metadata: Metadata({ 'containerd-namespace': namespace }) });
  const target = { mediaType: MANIFEST, digest: D1, size: 10n };

  /** Run the same calls against both; each returns what it got, errors as their kind. */
  async function both<T>(fn: (client: ImagesClient) => Promise<T>): Promise<[T | string, T | string]> {
    const on = async (address: string) => {
      const ch = dialUnix(address);
      try {
        return await fn(imagesClient(ch));
      } catch (err) {
        return `error ${kindOf(err)}: ${(err as Error).message}`;
      } finally {
        ch.close();
      }
    };
    return [await on(c.address), await on(f.address)];
  }

  it.each([
    ['create without a name', (cl: ImagesClient) => cl.create({ image: { name: '', target } }, md('g1'))],
    ['create without a name nor namespace', (cl: ImagesClient) => cl.create({ image: { name: '', target } })],
    ['create without a namespace', (cl: ImagesClient) => cl.create({ image: { name: 'x', target } })],
    ['create with an invalid namespace', (cl: ImagesClient) => cl.create({ image: { name: 'x', target } }, md('no/slash'))],
    ['create without a target', (cl: ImagesClient) => cl.create({ image: { name: 'x' } }, md('g1'))],
    ['create with a bad digest', (cl: ImagesClient) => cl.create({ image: { name: 'x', target: { ...target, digest: 'sha256:abc' } } }, md('g1'))],
    ['create with an unknown algorithm', (cl: ImagesClient) => cl.create({ image: { name: 'x', target: { ...target, digest: 'md5:abc' } } }, md('g1'))],
    ['create with size 0', (cl: ImagesClient) => cl.create({ image: { name: 'x', target: { ...target, size: 0n } } }, md('g1'))],
    ['create without a media type', (cl: ImagesClient) => cl.create({ image: { name: 'x', target: { ...target, mediaType: '' } } }, md('g1'))],
    ['get an unknown image', (cl: ImagesClient) => cl.get({ name: 'nope' }, md('g1'))],
    ['get without a namespace', (cl: ImagesClient) => cl.get({ name: 'nope' })],
    ['list with a bad filter', (cl: ImagesClient) => cl.list({ filters: ['name=='] }, md('g1'))],
    ['list an unknown namespace', async (cl: ImagesClient) => (await cl.list({}, md('never'))).images],
    ['update an unknown image', (cl: ImagesClient) => cl.update({ image: { name: 'nope', target } }, md('g1'))],
    ['update without a name', (cl: ImagesClient) => cl.update({ image: { name: '' } }, md('g1'))],
    ['delete an unknown image', (cl: ImagesClient) => cl.delete({ name: 'nope' }, md('g1'))],
    ['delete without a namespace', (cl: ImagesClient) => cl.delete({ name: 'nope' })],
  ] as const)('%s', async (_what, call) => {
    const [want, got] = await both<unknown>(call);
    expect(got).toEqual(want);
  });

  it('create with an oversized label: InvalidArgument, in containerd 2.0 words (1.6 did not give the length)', async () => {
    const [want, got] = await both((cl) => cl.create({ image: { name: 'x', target, labels: { k: 'v'.repeat(4096) } } }, md('g1')));
    expect(want).toBe('error InvalidArgument: image.Labels: label key and value greater than maximum size (4096 bytes), key: k: invalid argument');
    expect(got).toBe('error InvalidArgument: image.Labels: label key and value length (4097 bytes) greater than maximum size (4096 bytes), key: k: invalid argument');
  });

  it('create, tag, update by field path and delete answer as containerd does', async () => {
    const [want, got] = await both(async (cl) => {
      const out: unknown[] = [];
      const strip = (i: { name: string; labels: Record<string, string>; target?: { mediaType: string; digest: string; size: bigint; annotations: Record<string, string> } } | undefined) =>
        i && { name: i.name, labels: i.labels, target: i.target && { mediaType: i.target.mediaType, digest: i.target.digest, size: i.target.size, annotations: i.target.annotations } };
      const ns = md('g2');
      out.push(strip((await cl.create({ image: { name: 'a', labels: { k: 'v', empty: '' }, target: { ...target, annotations: { an: '1' } } } }, ns)).image));
      out.push(await cl.create({ image: { name: 'a', target } }, ns).then(() => 'ok', (e: unknown) => kindOf(e)));
      out.push(strip((await cl.update({ image: { name: 'a', labels: { n: '1' } }, updateMask: { paths: ['labels.n', 'labels.k'] } }, ns)).image));
      out.push(strip((await cl.update({ image: { name: 'a', labels: { all: '1' } }, updateMask: { paths: ['labels'] } }, ns)).image));
      out.push(strip((await cl.update({ image: { name: 'a', target: { annotations: { b: '2' } } }, updateMask: { paths: ['annotations.b', 'annotations.an'] } }, ns)).image));
      out.push(strip((await cl.update({ image: { name: 'a', target: { ...target, digest: D2 } }, updateMask: { paths: ['target'] } }, ns)).image));
      out.push(await cl.update({ image: { name: 'a' }, updateMask: { paths: ['name'] } }, ns).then(() => 'ok', (e: unknown) => kindOf(e)));
      out.push(await cl.update({ image: { name: 'a', target: { ...target, size: 0n } }, updateMask: { paths: ['target'] } }, ns).then(() => 'ok', (e: unknown) => kindOf(e)));
      // A whole-record update replaces labels and target, keeping the creation time.
      const before = (await cl.get({ name: 'a' }, ns)).image!;
      const replaced = (await cl.update({ image: { name: 'a', labels: { r: '1' }, target } }, ns)).image!;
      out.push(strip(replaced), replaced.createdAt?.seconds === before.createdAt?.seconds);
      out.push((await cl.list({ filters: ['labels.r==1'] }, ns)).images.map((i) => i.name));
      out.push(await cl.delete({ name: 'a' }, ns).then(() => 'ok', (e: unknown) => kindOf(e)));
      out.push(await cl.get({ name: 'a' }, ns).then(() => 'ok', (e: unknown) => kindOf(e)));
      return out;
    });
    expect(got).toEqual(want);
  });

  it('SOURCE_DATE_EPOCH sets the creation and update times (containerd 2.0; Debian 1.6 ignores the field)', async () => {
    const [, got] = await both(async (cl) => {
      const ns = md('g3');
      const created = (await cl.create({ image: { name: 'e', target }, sourceDateEpoch: { seconds: 1_000_000n, nanos: 0 } }, ns)).image!;
      const updated = (await cl.update({ image: { name: 'e', target }, sourceDateEpoch: { seconds: 2_000_000n, nanos: 0 } }, ns)).image!;
      return [created.createdAt?.seconds, created.updatedAt?.seconds, updated.createdAt?.seconds, updated.updatedAt?.seconds];
    });
    expect(got).toEqual([1_000_000n, 1_000_000n, 1_000_000n, 2_000_000n]);
  });

  it('delete with a target: only while the image still points at it (Debian 1.6 ignores the field)', async () => {
    const [, got] = await both(async (cl) => {
      const ns = md('g4');
      await cl.create({ image: { name: 't', target } }, ns);
      const stale = await cl.delete({ name: 't', target: { ...target, digest: D2 } }, ns).then(() => 'ok', (e: unknown) => kindOf(e));
      const current = await cl.delete({ name: 't', target }, ns).then(() => 'ok', (e: unknown) => kindOf(e));
      return [stale, current];
    });
    // containerd 2.0 (core/metadata/images.go): a stale target is NotFound.
    expect(got).toEqual(['NotFound', 'ok']);
  });
});

describe('image expiry (containerd 2.0 garbage collection; Debian 1.6 never expires images)', () => {
  it('an image labelled with a passed containerd.io/gc.expire through the real ctr is collected; the others stay', async () => {
    await seed(f.address, 'g5', [
      { name: 'expiring', mediaType: LAYER, digest: D1, size: 1n },
      { name: 'kept', mediaType: LAYER, digest: D1, size: 1n, labels: { 'containerd.io/gc.expire': '2999-01-01T00:00:00Z' } },
      { name: 'trigger', mediaType: LAYER, digest: D2, size: 1n },
    ]);
    const label = await f.ctr(['images', 'label', 'expiring', 'containerd.io/gc.expire=2020-01-01T00:00:00Z'], { namespace: 'g5' });
    expect(label.code, label.stderr).toBe(0);
    // A deletion schedules a collection, as in containerd.
    expect((await f.ctr(['images', 'rm', 'trigger'], { namespace: 'g5' })).code).toBe(0);
    await waitFor(async () => (await f.ctr(['images', 'ls', '-q'], { namespace: 'g5' })).stdout.trim() === 'kept' || undefined, 'the expired image to be collected', 10_000);
  });
});
