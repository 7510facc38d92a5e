import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FailedPreconditionError, NotFoundError } from '@flotilla/errdefs';
import { remoteContentStore } from '@flotilla/service-content';
import { dialUnix } from '@flotilla/rpc/client';
import { startFlotilla, type Flotilla } from './support/flotilla.js';
import { ensureFixtures, REGISTRY, busyboxArchive } from './support/fixtures.js';
import { run, waitFor } from './support/exec.js';

// Issue 3's acceptance, with Debian's ctr against the gateway and the fixtures registry.
let f: Flotilla;
const work = mkdtempSync(join(tmpdir(), 'content-e2e-'));
beforeAll(async () => {
  await ensureFixtures();
  f = await startFlotilla();
});
afterAll(async () => {
  await f?.stop();
  rmSync(work, { recursive: true, force: true });
});

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blobPath = (digest: string) => join(f.root, 'io.containerd.content.v1.content', 'blobs', 'sha256', digest.slice('sha256:'.length));
const blobsOnDisk = () => readdirSync(join(f.root, 'io.containerd.content.v1.content', 'blobs', 'sha256')).map((h) => `sha256:${h}`);
const ok = (r: { code: number; stderr: string }) => expect(r.code, r.stderr).toBe(0);

async function registryBlobs(repo: string): Promise<string[]> {
  const accept = 'application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.index.v1+json';
  const m = await run('curl', ['-fsS', '-H', `Accept: ${accept}`, `http://${REGISTRY}/v2/fixtures/${repo}/manifests/latest`]);
  const manifest = JSON.parse(m.stdout) as { config: { digest: string }; layers: { digest: string }[] };
  const head = await run('curl', ['-fsSI', '-H', `Accept: ${accept}`, `http://${REGISTRY}/v2/fixtures/${repo}/manifests/latest`]);
  const manifestDigest = /docker-content-digest:\s*(\S+)/i.exec(head.stdout)?.[1];
  return [manifestDigest!, manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
}

describe('content through the gateway with the real ctr', () => {
  it('ctr content fetch stores every blob with the digests the registry serves', async () => {
    const r = await f.ctr(['content', 'fetch', '--plain-http', `${REGISTRY}/fixtures/large:latest`]);
    ok(r);
    const listed = (await f.ctr(['content', 'ls', '-q'])).stdout.trim().split('\n');
    for (const d of await registryBlobs('large')) {
      expect(listed).toContain(d);
      expect(existsSync(blobPath(d))).toBe(true);
    }
  });

  it('ingest, ls, get, label and rm round-trip', async () => {
    const data = randomBytes(300_000);
    const file = join(work, 'blob');
    writeFileSync(file, data);
    const digest = sha256(data);
    const ingest = await run('sh', ['-c', `ctr -a ${f.address} content ingest --expected-size ${data.length} --expected-digest ${digest} ref-e2e < ${file}`]);
    ok(ingest);
    const ls = await f.ctr(['content', 'ls']);
    expect(ls.stdout).toMatch(new RegExp(`^${digest}\\s+300kB\\s`, 'm'));
    const got = await run('sh', ['-c', `ctr -a ${f.address} content get ${digest} | sha256sum`]);
    expect(got.stdout.split(' ')[0]).toBe(digest.slice(7));
    ok(await f.ctr(['content', 'label', digest, 'team=storage', 'tier=gold']));
    // ctr prints labels in Go map order: compare them as a set.
    const labelsOf = async () => (await f.ctr(['content', 'ls'])).stdout.split('\n').find((l) => l.startsWith(digest))?.split('\t').at(-1)?.split(',').sort();
    expect(await labelsOf()).toEqual(['team=storage', 'tier=gold']);
    ok(await f.ctr(['content', 'label', digest, 'tier=']));
    expect(await labelsOf()).toEqual(['team=storage']);
    ok(await f.ctr(['content', 'rm', digest]));
    expect((await f.ctr(['content', 'ls', '-q'])).stdout).not.toContain(digest);
  });

  it('imports an OCI archive without unpacking, and tags, labels, exports and removes images', async () => {
    ok(await f.ctr(['images', 'import', '--no-unpack', '--base-name', 'fixtures/busybox', busyboxArchive]));
    const ls = await f.ctr(['images', 'ls', '-q']);
    expect(ls.stdout).toMatch(/fixtures\/busybox:latest/);
    ok(await f.ctr(['images', 'tag', 'fixtures/busybox:latest', 'example.test/copy:v1']));
    ok(await f.ctr(['images', 'label', 'example.test/copy:v1', 'purpose=test']));
    expect((await f.ctr(['images', 'ls'])).stdout).toMatch(/^example\.test\/copy:v1\s.*purpose=test/m);
    const out = join(work, 'export.tar');
    ok(await f.ctr(['images', 'export', out, 'example.test/copy:v1']));
    const inspect = await run('skopeo', ['inspect', `oci-archive:${out}`]);
    ok(inspect);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ Architecture: 'amd64', Os: 'linux' });
    ok(await f.ctr(['images', 'rm', 'example.test/copy:v1']));
    expect((await f.ctr(['images', 'ls', '-q'])).stdout).not.toMatch(/example\.test\/copy/);
  });

  it('garbage collection removes an image\'s blobs from disk, keeping what another image or a lease holds', async () => {
    // Two images share busybox's blobs; a lease holds one more blob.
    ok(await f.ctr(['images', 'import', '--no-unpack', '--base-name', 'fixtures/busybox', busyboxArchive], { namespace: 'gc1' }));
    ok(await f.ctr(['images', 'tag', 'fixtures/busybox:latest', 'keep/busybox:latest'], { namespace: 'gc1' }));
    ok(await f.ctr(['content', 'fetch', '--plain-http', `${REGISTRY}/fixtures/layers:latest`], { namespace: 'gc1' }));
    const layerBlobs = await registryBlobs('layers');
    // What the busybox image holds: its manifest, config and layer (the archive's own index.json is imported
    // too, but nothing references it once the import's lease is gone, in containerd as here).
    const busyboxBlobs = await registryBlobs('busybox');
    const leaseHeld = layerBlobs[1]!; // the layers image's config
    ok(await f.ctr(['leases', 'create', '--id', 'hold'], { namespace: 'gc1' }));
    // Add the config blob to the lease through the leases API as ctr cannot.
    const { Leases } = await import('@flotilla/proto/containerd/services/leases/v1/leases_pb');
    const { clientOf } = await import('@flotilla/rpc/client');
    const { Metadata } = await import('nice-grpc');
    await clientOf(Leases, f.channel).addResource({ id: 'hold', resource: { id: leaseHeld, type: 'content' } }, { metadata: Metadata({ 'containerd-namespace': 'gc1' }) });

    ok(await f.ctr(['images', 'rm', '--sync', `${REGISTRY}/fixtures/layers:latest`], { namespace: 'gc1' }));
    await waitFor(() => !existsSync(blobPath(layerBlobs[2]!)), 'the layers image\'s first layer to leave the disk', 10_000);
    for (const d of layerBlobs.slice(2)) expect(existsSync(blobPath(d)), d).toBe(false);
    expect(existsSync(blobPath(leaseHeld)), 'lease-held config').toBe(true);

    ok(await f.ctr(['images', 'rm', '--sync', 'fixtures/busybox:latest'], { namespace: 'gc1' }));
    for (const d of busyboxBlobs) expect(existsSync(blobPath(d)), `${d} still held by keep/busybox`).toBe(true);
    ok(await f.ctr(['images', 'rm', '--sync', 'keep/busybox:latest'], { namespace: 'gc1' }));
    const onDisk = blobsOnDisk();
    for (const d of busyboxBlobs) {
      // Other tests' namespaces may hold busybox too; only what nobody holds must be gone.
      const elsewhere = (await f.ctr(['content', 'ls', '-q'])).stdout.includes(d);
      if (!elsewhere) expect(onDisk, d).not.toContain(d);
    }
    ok(await f.ctr(['leases', 'rm', '--sync', 'hold'], { namespace: 'gc1' }));
    await waitFor(() => !existsSync(blobPath(leaseHeld)), 'the lease-held blob to go with its lease', 10_000);
  });

  it('a write whose bytes do not match the expected digest fails with FailedPrecondition and leaves nothing', async () => {
    const cs = remoteContentStore(dialUnix(f.address), { namespace: 'default' });
    const data = randomBytes(64 * 1024);
    const wrong = sha256(Buffer.from('something else'));
    const w = await cs.writer({ ref: 'mismatch', total: data.length, expected: wrong });
    await w.write(data);
    await expect(w.commit(data.length, wrong)).rejects.toBeInstanceOf(FailedPreconditionError);
    await w.close();
    await cs.abort('mismatch').catch(() => {});
    expect(blobsOnDisk()).not.toContain(sha256(data));
    expect(blobsOnDisk()).not.toContain(wrong);
    await expect(cs.info(sha256(data))).rejects.toBeInstanceOf(NotFoundError);

    // The same through the real ctr: it reports containerd's code for the error, and nothing is stored.
    const file = join(work, 'mismatch');
    writeFileSync(file, data);
    const ingest = await run('sh', ['-c', `ctr -a ${f.address} content ingest --expected-size ${data.length} --expected-digest ${wrong} ctr-mismatch < ${file}`]);
    expect(ingest.code).not.toBe(0);
    expect(ingest.stderr).toMatch(/failed precondition/);
    expect(blobsOnDisk()).not.toContain(sha256(data));
    expect(blobsOnDisk()).not.toContain(wrong);
    expect((await f.ctr(['content', 'ls', '-q'])).stdout).not.toContain(sha256(data));
  });

  it('a 200 MiB write interrupted by killing the content process resumes to the right digest', async () => {
    const cs = remoteContentStore(dialUnix(f.address), { namespace: 'default' });
    const chunk = 4 << 20;
    const total = 200 << 20;
    const seed = randomBytes(chunk);
    const piece = (i: number) => { const b = Buffer.from(seed); b.writeUInt32BE(i, 0); return b; };
    const h = createHash('sha256');
    for (let i = 0; i < total / chunk; i++) h.update(piece(i));
    const digest = `sha256:${h.digest('hex')}`;

    let w = await cs.writer({ ref: 'big-resume', total, expected: digest });
    for (let i = 0; i < 20; i++) await w.write(piece(i));
    process.kill(await f.processPid('content'), 'SIGKILL');
    await w.close().catch(() => {});
    await f.allReady();

    w = await waitFor(async () => cs.writer({ ref: 'big-resume', total, expected: digest }), 'the ingest to reopen', 30_000);
    const st = await w.status();
    // Whatever reached the disk before the kill is kept, possibly part of a message: resume right there.
    expect(st.offset).toBeGreaterThan(0);
    expect(st.offset).toBeLessThanOrEqual(20 * chunk);
    const first = Math.floor(st.offset / chunk);
    await w.write(piece(first).subarray(st.offset % chunk));
    for (let i = first + 1; i < total / chunk; i++) await w.write(piece(i));
    await w.commit(total, digest);
    expect((await cs.info(digest)).size).toBe(total);
    const bytes = readFileSync(blobPath(digest));
    expect(sha256(bytes)).toBe(digest);
  });

  it('a namespace cannot see or delete content it never referenced', async () => {
    const a = remoteContentStore(dialUnix(f.address), { namespace: 'tenant-a' });
    const b = remoteContentStore(dialUnix(f.address), { namespace: 'tenant-b' });
    const data = randomBytes(1000);
    const digest = sha256(data);
    const w = await a.writer({ ref: 'private', total: data.length, expected: digest });
    await w.write(data);
    await w.commit(data.length, digest);
    await expect(b.info(digest)).rejects.toBeInstanceOf(NotFoundError);
    await expect(b.delete(digest)).rejects.toBeInstanceOf(NotFoundError);
    const reading = async () => { for await (const _ of b.read(digest)) { /* no bytes expected */ } };
    await expect(reading()).rejects.toBeInstanceOf(NotFoundError);
    expect((await f.ctr(['content', 'ls', '-q'], { namespace: 'tenant-b' })).stdout).not.toContain(digest);
    await f.ctr(['content', 'rm', digest], { namespace: 'tenant-b' });
    expect((await a.info(digest)).digest).toBe(digest);
    expect(existsSync(blobPath(digest))).toBe(true);
  });
});
