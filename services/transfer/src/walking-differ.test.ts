import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createTarWriter, decompress, type TarHeaderInit } from '@flotilla/archive';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, NotImplementedError } from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import { lgetxattr, mount, umount2, MNT } from '@flotilla/native';
import { createLocalStore, type LocalContentStore } from '@flotilla/service-content';
import type { Mount } from '@flotilla/snapshots';
import { LABEL_UNCOMPRESSED, MEDIA_TYPE_LAYER, MEDIA_TYPE_LAYER_GZIP, type Differ } from './differ.js';
import { createWalkingDiffer } from './walking-differ.js';
import { rejection } from '@flotilla/native/test-support';

const isRoot = process.getuid?.() === 0;
const log = createLogger({ service: 'test', level: 'silent' });
const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

type Entry = TarHeaderInit & { data?: string };

async function tar(entries: Entry[]): Promise<Buffer> {
  const out: Buffer[] = [];
  const w = createTarWriter((b) => { out.push(Buffer.from(b)); });
  for (const e of entries) {
    await w.writeHeader({ mode: e.type === 'directory' ? 0o755 : 0o644, ...e, ...(e.data !== undefined ? { size: Buffer.byteLength(e.data) } : {}) });
    if (e.data) await w.write(Buffer.from(e.data));
  }
  await w.end();
  return Buffer.concat(out);
}

const failure = (p: Promise<unknown>) => rejection<Error>(p);

/** Every path under `root` with its type letter ('-', 'd', 'l', 'c'), sorted. */
async function listing(root: string, dir = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(root, dir))).sort()) {
    const rel = dir === '' ? name : `${dir}/${name}`;
    const st = await lstat(join(root, rel));
    out.push(`${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isCharacterDevice() ? 'c' : '-'} ${rel}`);
    if (st.isDirectory()) out.push(...(await listing(root, rel)));
  }
  return out;
}

describe.skipIf(!isRoot)('walking differ (root)', () => {
  let base = '';
  let fs = '';
  let store: LocalContentStore;
  let differ: Differ;
  const d = (name: string) => join(fs, name);

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'flotilla-differ-'));
    fs = join(base, 'fs');
    await mkdir(fs);
    // Overlay upper directories and trusted.* xattrs need a filesystem that has them: a tmpfs of our own.
    await mount('tmpfs', fs, 'tmpfs', 0, 'size=256m');
    store = await createLocalStore({ root: join(base, 'content'), log });
    differ = createWalkingDiffer({ content: () => store, tempMounts: join(fs, 'tmpmounts'), log });
  });

  afterAll(async () => {
    store?.close();
    if (fs) await umount2(fs, MNT.MNT_DETACH).catch(() => {});
    if (base) await rm(base, { recursive: true, force: true });
  });

  beforeEach(async () => {
    for (const name of await readdir(fs)) if (name !== 'tmpmounts') await rm(d(name), { recursive: true, force: true });
    for (const name of ['lower', 'upper', 'work', 'snap', 'outside']) await mkdir(d(name));
    await writeFile(join(d('lower'), 'base-file'), 'base');
    await mkdir(join(d('lower'), 'etc'));
    await writeFile(join(d('lower'), 'etc/old'), 'old');
    await writeFile(join(d('outside'), 'secret'), 'keep');
  });

  /** Stores `bytes` (again, if an earlier test did) with exactly `labels`. */
  async function put(bytes: Buffer, labels: Record<string, string> = {}): Promise<string> {
    const digest = sha256(bytes);
    const w = await store.writer({ ref: `test-${digest}` });
    await w.write(bytes);
    await w.commit(bytes.length, digest, { labels }).catch(async (err: unknown) => {
      if (!(err instanceof AlreadyExistsError)) throw err;
      await store.update({ digest, labels });
    });
    return digest;
  }

  const layer = () => tar([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/.wh.old', type: 'file', data: '' },
    { name: 'etc/new', type: 'file', data: 'new', mode: 0o4755, uid: 12, gid: 34 },
    { name: 'opt/', type: 'directory' },
    { name: 'opt/.wh..wh..opq', type: 'file', data: '' },
  ]);
  const overlayMounts = (): Mount[] => [{
    type: 'overlay', source: 'overlay', target: '',
    options: ['index=off', `workdir=${d('work')}`, `upperdir=${d('upper')}`, `lowerdir=${d('lower')}`],
  }];
  const bindMounts = (dir: string, ro = false): Mount[] => [{ type: 'bind', source: dir, target: '', options: [ro ? 'ro' : 'rw', 'rbind'] }];

  it('applies into an overlay snapshot\'s upper directory, in overlay form, without mounting', async () => {
    const uncompressed = await layer();
    const digest = await put(gzipSync(uncompressed));
    const applied = await differ.apply({ mediaType: MEDIA_TYPE_LAYER_GZIP, digest, size: 0 }, overlayMounts());
    expect(applied).toEqual({ mediaType: MEDIA_TYPE_LAYER, digest: sha256(uncompressed), size: uncompressed.length });
    expect(await listing(d('upper'))).toEqual(['d etc', '- etc/new', 'c etc/old', 'd opt']);
    expect((await lgetxattr(join(d('upper'), 'opt'), 'trusted.overlay.opaque')).toString()).toBe('y');
    expect((await lstat(join(d('upper'), 'etc/new'))).mode & 0o7777).toBe(0o4755);
    expect(await readdir(d('tmpmounts')).catch(() => [])).toEqual([]);
  });

  it('applies onto other mounts by mounting them, whiteouts as deletions', async () => {
    execFileSync('cp', ['-a', `${d('lower')}/.`, d('snap')]);
    const uncompressed = await layer();
    const zstd = execFileSync('zstd', ['-q', '-c'], { input: uncompressed });
    const digest = await put(zstd);
    const applied = await differ.apply({ mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest, size: zstd.length }, bindMounts(d('snap')), { syncFs: true });
    expect(applied.digest).toBe(sha256(uncompressed));
    expect(await listing(d('snap'))).toEqual(['- base-file', 'd etc', '- etc/new', 'd opt']);
    // The temporary mount point is gone again.
    expect(await readdir(d('tmpmounts'))).toEqual([]);
  });

  it('refuses a layer whose uncompressed digest is not the expected diff ID', async () => {
    const uncompressed = await layer();
    const wrong = sha256(Buffer.from('something else'));
    const freshUpper = async () => {
      await rm(d('upper'), { recursive: true });
      await mkdir(d('upper'));
    };
    const byLabel = await put(gzipSync(uncompressed), { [LABEL_UNCOMPRESSED]: wrong });
    const e1 = await failure(differ.apply({ mediaType: MEDIA_TYPE_LAYER_GZIP, digest: byLabel, size: 0 }, overlayMounts()));
    expect(e1).toBeInstanceOf(FailedPreconditionError);
    expect(e1.message).toContain(`expected "${wrong}"`);
    await freshUpper();
    const plain = await put(uncompressed);
    const e2 = await failure(differ.apply({ mediaType: MEDIA_TYPE_LAYER, digest: plain, size: 0, annotations: { [LABEL_UNCOMPRESSED]: wrong } }, overlayMounts()));
    expect(e2).toBeInstanceOf(FailedPreconditionError);
    await freshUpper();
    const e3 = await failure(differ.apply({ mediaType: MEDIA_TYPE_LAYER, digest: plain, size: 0 }, overlayMounts(), { expectedDiffId: wrong }));
    expect(e3).toBeInstanceOf(FailedPreconditionError);
    // The right one passes.
    await freshUpper();
    await differ.apply({ mediaType: MEDIA_TYPE_LAYER, digest: plain, size: 0 }, overlayMounts(), { expectedDiffId: sha256(uncompressed) });
  });

  it('takes the blob\'s size and diff ID from what the caller checked, without looking it up', async () => {
    const uncompressed = await layer();
    const digest = await put(gzipSync(uncompressed));
    const lookups: string[] = [];
    const counting = createWalkingDiffer({
      content: () => ({ ...store, info: (dg: string) => { lookups.push(dg); return store.info(dg); } }),
      tempMounts: join(fs, 'tmpmounts'),
      log,
    });
    const wrong = sha256(Buffer.from('something else'));
    const e = await failure(counting.apply({ mediaType: MEDIA_TYPE_LAYER_GZIP, digest, size: 0 }, overlayMounts(), { checked: { digest, size: 0, uncompressed: wrong } }));
    expect(e).toBeInstanceOf(FailedPreconditionError);
    expect(lookups).toEqual([]);
    await rm(d('upper'), { recursive: true });
    await mkdir(d('upper'));
    await counting.apply({ mediaType: MEDIA_TYPE_LAYER_GZIP, digest, size: 0 }, overlayMounts(), { checked: { digest, size: 0, uncompressed: sha256(uncompressed) } });
    expect(lookups).toEqual([]);
    // About another blob, it is no answer: the applier looks this one up itself.
    await rm(d('upper'), { recursive: true });
    await mkdir(d('upper'));
    await counting.apply({ mediaType: MEDIA_TYPE_LAYER_GZIP, digest, size: 0 }, overlayMounts(), { checked: { digest: wrong, size: 1 } });
    expect(lookups).toEqual([digest]);
  });

  it('extracts a layer inflated ahead from its tar, without reading the blob, and only for compressed types', async () => {
    const uncompressed = await layer();
    const digest = await put(gzipSync(uncompressed));
    const taken: string[] = [];
    const ahead = createWalkingDiffer({
      content: () => store,
      readBlob: () => { throw new Error('the blob was read'); },
      prefetched: { take: async (dg) => { taken.push(dg); return { chunks: [uncompressed.subarray(0, 1000), uncompressed.subarray(1000)], size: uncompressed.length }; } },
      tempMounts: join(fs, 'tmpmounts'),
      log,
    });
    const applied = await ahead.apply({ mediaType: MEDIA_TYPE_LAYER_GZIP, digest, size: 0 }, overlayMounts());
    expect(applied).toEqual({ mediaType: MEDIA_TYPE_LAYER, digest: sha256(uncompressed), size: uncompressed.length });
    expect(await listing(d('upper'))).toEqual(['d etc', '- etc/new', 'c etc/old', 'd opt']);
    expect(taken).toEqual([digest]);
    // A plain tar type is read as it is: the prefetcher is not asked.
    const plain = await put(uncompressed);
    await rm(d('upper'), { recursive: true });
    await mkdir(d('upper'));
    await expect(ahead.apply({ mediaType: MEDIA_TYPE_LAYER, digest: plain, size: 0 }, overlayMounts())).rejects.toThrow('the blob was read');
    expect(taken).toEqual([digest]);
  });

  it('reads an uncompressed media type as a tar, and refuses what is not a layer', async () => {
    const uncompressed = await layer();
    const gz = await put(gzipSync(uncompressed));
    // Declared uncompressed, so the gzip bytes are read as a (broken) tar, as containerd would.
    expect(await failure(differ.apply({ mediaType: MEDIA_TYPE_LAYER, digest: gz, size: 0 }, overlayMounts()))).toBeInstanceOf(InvalidArgumentError);
    const e = await failure(differ.apply({ mediaType: 'application/vnd.oci.image.config.v1+json', digest: gz, size: 0 }, overlayMounts()));
    expect(e).toBeInstanceOf(NotImplementedError);
    expect(await failure(differ.apply({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted', digest: gz, size: 0 }, overlayMounts()))).toBeInstanceOf(NotImplementedError);
    expect(await failure(differ.apply({ mediaType: MEDIA_TYPE_LAYER_GZIP, digest: sha256(Buffer.from('nope')), size: 0 }, overlayMounts()))).toBeInstanceOf(NotFoundError);
  });

  it('refuses a layer that reaches outside, writing nothing there', async () => {
    const digest = await put(await tar([
      { name: 'link', type: 'symlink', linkname: '../../outside' },
      { name: 'link/secret', type: 'file', data: 'pwned' },
    ]));
    for (const mounts of [overlayMounts(), bindMounts(d('snap'))]) {
      expect(await failure(differ.apply({ mediaType: MEDIA_TYPE_LAYER, digest, size: 0 }, mounts))).toBeInstanceOf(InvalidArgumentError);
      expect(await readFile(join(d('outside'), 'secret'), 'utf8')).toBe('keep');
      expect(await readdir(d('outside'))).toEqual(['secret']);
    }
  });

  describe('compare', () => {
    async function change(): Promise<void> {
      // Through a mount of the overlay snapshot, as a container would change it.
      await mkdir(d('merged'));
      await mount('overlay', d('merged'), 'overlay', 0, `index=off,lowerdir=${d('lower')},upperdir=${d('upper')},workdir=${d('work')}`);
      try {
        await writeFile(join(d('merged'), 'etc/old'), 'changed');
        await writeFile(join(d('merged'), 'added'), 'added');
        await rm(join(d('merged'), 'base-file'));
      } finally {
        await umount2(d('merged'));
      }
    }

    async function unpacked(digest: string): Promise<string[]> {
      const out: Buffer[] = [];
      for await (const c of decompress(store.read(digest))) out.push(Buffer.from(c));
      const target = d('check');
      await rm(target, { recursive: true, force: true });
      execFileSync('cp', ['-a', d('lower'), target]);
      const tarDigest = await put(Buffer.concat(out));
      await differ.apply({ mediaType: MEDIA_TYPE_LAYER, digest: tarDigest, size: 0 }, bindMounts(target));
      return listing(target);
    }

    const expected = ['- added', 'd etc', '- etc/old'];

    it('reads an overlay snapshot\'s upper directory when the lower is its parent', async () => {
      await change();
      const desc = await differ.compare(bindMounts(d('lower'), true), overlayMounts(), { labels: { mine: 'yes' } });
      expect(desc.mediaType).toBe(MEDIA_TYPE_LAYER_GZIP);
      const info = await store.info(desc.digest);
      expect(info.size).toBe(desc.size);
      expect(info.labels['mine']).toBe('yes');
      expect(info.labels[LABEL_UNCOMPRESSED]).toMatch(/^sha256:/);
      expect(await unpacked(desc.digest)).toEqual(expected);
      expect(await readFile(join(d('check'), 'etc/old'), 'utf8')).toBe('changed');
    });

    it('compares mounted trees otherwise, with the same result', async () => {
      await change();
      // Mounting an active overlay read-only takes its upper directory as a lower layer.
      const other = execFileSync('cp', ['-a', d('lower'), d('lower2')]);
      expect(other.length).toBe(0);
      const desc = await differ.compare(bindMounts(d('lower2')), overlayMounts(), { mediaType: MEDIA_TYPE_LAYER, ref: 'my-ref' });
      expect(desc.mediaType).toBe(MEDIA_TYPE_LAYER);
      expect((await store.info(desc.digest)).labels[LABEL_UNCOMPRESSED]).toBeUndefined();
      expect(await unpacked(desc.digest)).toEqual(expected);
      expect(await readdir(d('tmpmounts'))).toEqual([]);
      // The ingest was committed, not left behind.
      expect(await store.listStatuses()).toEqual([]);
    });

    it('does not rely on the writer knowing the digest of what it was sent', async () => {
      // A remote writer behind the gateway reports the digest its server last confirmed, not of all it sent.
      const lagging = createWalkingDiffer({
        content: () => ({
          ...store,
          writer: async (o) => ({ ...(await store.writer(o)), digest: () => sha256(Buffer.alloc(0)) }),
        }),
        tempMounts: join(fs, 'tmpmounts'),
        log,
      });
      const desc = await lagging.compare([], bindMounts(d('lower')));
      expect((await store.info(desc.digest)).size).toBe(desc.size);
    });

    it('diffs against nothing when there is no lower, and refuses unknown media types', async () => {
      const desc = await differ.compare([], bindMounts(d('lower')), { mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' });
      const out: Buffer[] = [];
      for await (const c of decompress(store.read(desc.digest))) out.push(Buffer.from(c));
      expect(execFileSync('tar', ['-t'], { input: Buffer.concat(out) }).toString().split('\n').filter(Boolean).sort()).toEqual(['base-file', 'etc/', 'etc/old']);
      expect(await failure(differ.compare([], bindMounts(d('lower')), { mediaType: 'application/x-tar' }))).toBeInstanceOf(NotImplementedError);
    });
  });
});
