import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Metadata, type Channel } from 'nice-grpc';
import { Diff } from '@flotilla/proto/containerd/services/diff/v1/diff_pb';
import { createTarWriter, decompress } from '@flotilla/archive';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, NotImplementedError } from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import { PluginType, startPluginProcess, type PluginProcess } from '@flotilla/plugin';
import { clientOf, dialUnix } from '@flotilla/rpc/client';
import { contentPlugins, remoteContentStore, type ContentStore } from '@flotilla/service-content';
import { LABEL_UNCOMPRESSED, MEDIA_TYPE_LAYER, MEDIA_TYPE_LAYER_GZIP } from './differ.js';
import { transferPlugins } from './plugins.js';
import { rejection } from '@flotilla/native/test-support';

const isRoot = process.getuid?.() === 0;
const log = createLogger({ service: 'test', level: 'silent' });
const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const ns = { metadata: Metadata({ 'containerd-namespace': 'diff-test' }) };
const diffClient = (channel: Channel) => clientOf(Diff, channel);

const failure = (p: Promise<unknown>) => rejection<Error>(p);

async function tarOf(files: Record<string, string>, symlinks: Record<string, string> = {}): Promise<Buffer> {
  const out: Buffer[] = [];
  const w = createTarWriter((b) => { out.push(Buffer.from(b)); });
  for (const [name, linkname] of Object.entries(symlinks)) await w.writeHeader({ name, type: 'symlink', linkname });
  for (const [name, data] of Object.entries(files)) {
    await w.writeHeader({ name, type: 'file', mode: 0o644, size: Buffer.byteLength(data) });
    await w.write(Buffer.from(data));
  }
  await w.end();
  return Buffer.concat(out);
}

// Both plugin processes as `flotilla service` hosts them, each on its own socket; the transfer process
// finds the content process through its peers, as the gateway starts it.
describe.skipIf(!isRoot)('diff service through its socket, against a content process (root)', () => {
  let dir = '';
  let content: PluginProcess;
  let transfer: PluginProcess;
  let contentChannel: Channel;
  let diffChannel: Channel;
  let store: ContentStore;
  let diff: ReturnType<typeof diffClient>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-diff-svc-'));
    const contentSock = join(dir, 'content.sock');
    content = await startPluginProcess({
      name: 'content', registrations: contentPlugins, address: contentSock, root: join(dir, 'root'), state: join(dir, 'state'), log,
    });
    transfer = await startPluginProcess({
      name: 'transfer', registrations: transferPlugins, address: join(dir, 'transfer.sock'), root: join(dir, 'root'), state: join(dir, 'state'),
      peers: { content: contentSock }, log,
    });
    contentChannel = dialUnix(contentSock);
    diffChannel = dialUnix(join(dir, 'transfer.sock'));
    store = remoteContentStore(contentChannel);
    diff = diffClient(diffChannel);
  });

  afterAll(async () => {
    contentChannel?.close();
    diffChannel?.close();
    await transfer?.close();
    await content?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function put(bytes: Buffer): Promise<string> {
    const digest = sha256(bytes);
    const w = await store.writer({ ref: `put-${digest}` });
    await w.write(bytes);
    await w.commit(bytes.length, digest).catch(() => {});
    return digest;
  }

  const bind = (source: string) => [{ type: 'bind', source, target: '', options: ['rw', 'rbind'] }];

  it('registers the walking differ and the diff service', () => {
    const ids = transfer.plugins.map((p) => `${p.type}.${p.id}`);
    expect(ids).toEqual([`${PluginType.Differ}.walking`, `${PluginType.GRPC}.diff`]);
    expect(transfer.plugins.every((p) => p.error === undefined)).toBe(true);
    expect(transfer.plugins[0]!.platforms[0]!.os).toBe('linux');
    // Layers are found through the content service and read from its directory (the same root here).
    expect(transfer.plugins[0]!.exports).toEqual({ content: join(dir, 'content.sock'), blobs: join(dir, 'root', 'io.containerd.content.v1.content') });
  });

  it('applies a layer from the content store and reports its uncompressed descriptor', async () => {
    const layer = await tarOf({ 'hello.txt': 'hello', 'sub/x': 'x' });
    const digest = await put(gzipSync(layer));
    const target = join(dir, 'snap-apply');
    await mkdir(target);
    const res = await diff.apply({ diff: { mediaType: MEDIA_TYPE_LAYER_GZIP, digest, size: 0n }, mounts: bind(target) }, ns);
    expect(res.applied).toMatchObject({ mediaType: MEDIA_TYPE_LAYER, digest: sha256(layer), size: BigInt(layer.length) });
    expect(await readFile(join(target, 'hello.txt'), 'utf8')).toBe('hello');
  });

  it('makes a layer and stores it in the content store', async () => {
    const upper = join(dir, 'snap-diff');
    await mkdir(join(upper, 'etc'), { recursive: true });
    await writeFile(join(upper, 'etc/motd'), 'hi');
    const res = await diff.diff({ left: [], right: bind(upper), labels: { origin: 'test' } }, ns);
    expect(res.diff?.mediaType).toBe(MEDIA_TYPE_LAYER_GZIP);
    const info = await store.info(res.diff!.digest);
    expect(BigInt(info.size)).toBe(res.diff!.size);
    expect(info.labels).toMatchObject({ origin: 'test', [LABEL_UNCOMPRESSED]: expect.stringMatching(/^sha256:/) });
    const tar: Buffer[] = [];
    for await (const c of decompress(store.read(res.diff!.digest))) tar.push(Buffer.from(c));
    expect(sha256(Buffer.concat(tar))).toBe(info.labels[LABEL_UNCOMPRESSED]);
  });

  it('answers with containerd\'s error codes', async () => {
    const target = join(dir, 'snap-errors');
    await mkdir(target);
    const layer = await put(await tarOf({}, {}));
    expect(await failure(diff.apply({ diff: { mediaType: MEDIA_TYPE_LAYER, digest: layer }, mounts: bind(target) }))).toBeInstanceOf(FailedPreconditionError);
    expect(await failure(diff.apply({ diff: { mediaType: MEDIA_TYPE_LAYER, digest: sha256(Buffer.from('absent')) }, mounts: bind(target) }, ns))).toBeInstanceOf(NotFoundError);
    expect(await failure(diff.apply({ diff: { mediaType: MEDIA_TYPE_LAYER, digest: 'sha256:nothex' }, mounts: bind(target) }, ns))).toBeInstanceOf(InvalidArgumentError);
    expect(await failure(diff.apply({ diff: { mediaType: 'text/plain', digest: layer }, mounts: bind(target) }, ns))).toBeInstanceOf(NotImplementedError);
    expect(await failure(diff.diff({ left: [], right: bind(target), mediaType: 'text/plain' }, ns))).toBeInstanceOf(NotImplementedError);

    const escape = await put(await tarOf({ 'out/pwned': 'x' }, { out: '../..' }));
    const err = await failure(diff.apply({ diff: { mediaType: MEDIA_TYPE_LAYER, digest: escape }, mounts: bind(target) }, ns));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toMatch(/leads outside the root/);
    // `out` would have led two levels up from the target: to the temp dir holding this suite's directory.
    expect(await readdir(tmpdir())).not.toContain('pwned');
  });
});
