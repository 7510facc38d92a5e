import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
} from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import type { Mount } from '@flotilla/snapshots';
import { createOverlaySnapshotter, UPPERDIR_LABEL, type OverlaySnapshotter, type OverlaySnapshotterOptions } from './overlay-snapshotter.js';

const log = createLogger({ service: 'test', level: 'silent' });
const isRoot = process.getuid?.() === 0;
const kernelHasIndex = existsSync('/sys/module/overlay/parameters/index');

let dir: string;
let root: string;
let sn: OverlaySnapshotter;

async function open(opts: Partial<OverlaySnapshotterOptions> = {}): Promise<OverlaySnapshotter> {
  await sn?.close();
  sn = await createOverlaySnapshotter({ root, log, ...opts });
  return sn;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'overlay-snapshotter-'));
  root = join(dir, 'root');
  await open();
});

afterEach(async () => {
  await sn.close();
  await rm(dir, { recursive: true, force: true });
});

/** The snapshot's own tree, from the bind mount a parentless snapshot gets. */
const treeOf = (mounts: Mount[]): string => {
  expect(mounts[0]?.type).toBe('bind');
  return mounts[0]!.source;
};

const snapshotDirs = async (): Promise<string[]> => (await readdir(join(root, 'snapshots'))).sort();

/** c1 committed (one file), and its id. */
async function committedBase(): Promise<string> {
  const fs = treeOf(await sn.prepare('c1-a', ''));
  await writeFile(join(fs, 'f'), 'x');
  await sn.commit('c1', 'c1-a');
  return (await snapshotDirs())[0]!;
}

describe('layout', () => {
  it('makes snapshots/<id>/fs (0755) and, for an active snapshot, work (0711), under a 0700 root', async () => {
    const fs = treeOf(await sn.prepare('a', ''));
    const [id] = await snapshotDirs();
    expect(fs).toBe(join(root, 'snapshots', id!, 'fs'));
    expect((await stat(fs)).mode & 0o7777).toBe(0o755);
    expect((await stat(join(root, 'snapshots', id!, 'work'))).mode & 0o7777).toBe(0o711);
    expect((await stat(join(root, 'snapshots'))).mode & 0o777).toBe(0o700);
    expect(existsSync(join(root, 'metadata.db'))).toBe(true);
  });

  it('gives a view no work directory', async () => {
    await sn.view('v', '');
    const [id] = await snapshotDirs();
    expect(await readdir(join(root, 'snapshots', id!))).toEqual(['fs']);
  });

  it('leaves neither directory nor record when creating fails', async () => {
    await sn.prepare('a', '');
    const before = await snapshotDirs();
    await expect(sn.prepare('b', 'missing')).rejects.toBeInstanceOf(NotFoundError);
    await expect(sn.view('b', 'a')).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await snapshotDirs()).toEqual(before);
    await expect(sn.stat('b')).rejects.toBeInstanceOf(NotFoundError);
  });

  it.skipIf(!isRoot)('gives a new tree the owner of its parent tree', async () => {
    const id = await committedBase();
    await chown(join(root, 'snapshots', id, 'fs'), 1, 2);
    await sn.prepare('child', 'c1');
    const childId = (await snapshotDirs()).find((d) => d !== id)!;
    const st = await stat(join(root, 'snapshots', childId, 'fs'));
    expect([st.uid, st.gid]).toEqual([1, 2]);
  });
});

describe('mounts', () => {
  it('are again what prepare and view returned', async () => {
    await committedBase();
    const active = await sn.prepare('a', 'c1');
    const view = await sn.view('v', 'c1');
    expect(await sn.mounts('a')).toEqual(active);
    expect(await sn.mounts('v')).toEqual(view);
    expect(active[0]?.type).toBe('overlay');
    expect(view).toEqual([{ type: 'bind', source: expect.stringMatching(/\/fs$/), target: '', options: ['ro', 'rbind'] }]);
  });

  it('are refused for a committed snapshot', async () => {
    await committedBase();
    await expect(sn.mounts('c1')).rejects.toBeInstanceOf(FailedPreconditionError);
    await expect(sn.mounts('nope')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('start with index=off where the kernel has the feature, then the configured overlay options', async () => {
    await open({ mountOptions: ['metacopy=off'] });
    await committedBase();
    const options = (await sn.prepare('a', 'c1'))[0]!.options;
    expect(options.slice(0, -3)).toEqual(kernelHasIndex ? ['index=off', 'metacopy=off'] : ['metacopy=off']);
  });

  it('leave a configured index option alone', async () => {
    await open({ mountOptions: ['index=on'] });
    await committedBase();
    expect((await sn.prepare('a', 'c1'))[0]!.options.slice(0, -3)).toEqual(['index=on']);
  });
});

describe('usage', () => {
  it('measures an active snapshot now, and a committed one as it was at commit', async () => {
    const fs = treeOf(await sn.prepare('a', ''));
    expect((await sn.usage('a')).inodes).toBe(1);
    await writeFile(join(fs, 'one'), 'x');
    await mkdir(join(fs, 'two'));
    const atCommit = await sn.usage('a');
    expect(atCommit.inodes).toBe(3);
    await sn.commit('c', 'a');
    await writeFile(join(fs, 'late'), 'not counted');
    expect(await sn.usage('c')).toEqual(atCommit);
  });

  it('is zero for a view, whose tree is its parent', async () => {
    await committedBase();
    await sn.view('v', 'c1');
    expect(await sn.usage('v')).toEqual({ size: 0, inodes: 0 });
  });
});

describe('commit', () => {
  it('does not rebase: a parentless snapshot onto a parent is NotImplemented', async () => {
    await committedBase();
    await sn.prepare('a', '');
    await expect(sn.commit('c2', 'a', { parent: 'c1' })).rejects.toBeInstanceOf(NotImplementedError);
    expect((await sn.stat('a')).kind).toBe('active');
  });

  it('refuses another parent than the snapshot has, and accepts its own', async () => {
    await committedBase();
    await sn.prepare('other-a', '');
    await sn.commit('other', 'other-a');
    await sn.prepare('a', 'c1');
    await expect(sn.commit('c2', 'a', { parent: 'other' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await sn.commit('c2', 'a', { parent: 'c1' });
    expect((await sn.stat('c2')).parent).toBe('c1');
  });

  it('refuses a view without measuring it', async () => {
    await sn.view('v', '');
    await expect(sn.commit('c', 'v')).rejects.toBeInstanceOf(FailedPreconditionError);
  });
});

describe('remove and cleanup', () => {
  it('by default leave the directories to cleanup, which takes only orphans', async () => {
    await committedBase();
    await sn.prepare('a', 'c1');
    const all = await snapshotDirs();
    await sn.remove('a');
    expect(await snapshotDirs()).toEqual(all);
    await mkdir(join(root, 'snapshots', 'new-leftover', 'fs'), { recursive: true });
    await sn.cleanup();
    const kept = await snapshotDirs();
    expect(kept).toHaveLength(1);
    expect((await sn.stat('c1')).kind).toBe('committed');
    expect(treeOf(await sn.view('v', 'c1'))).toBe(join(root, 'snapshots', kept[0]!, 'fs'));
  });

  it('delete the directories at once with syncRemove', async () => {
    await open({ syncRemove: true });
    await sn.prepare('a', '');
    await sn.prepare('b', '');
    expect(await snapshotDirs()).toHaveLength(2);
    await sn.remove('a');
    expect(await snapshotDirs()).toHaveLength(1);
    expect((await sn.stat('b')).kind).toBe('active');
  });

  it('refuse a snapshot with children', async () => {
    await committedBase();
    await sn.view('v', 'c1');
    await expect(sn.remove('c1')).rejects.toBeInstanceOf(FailedPreconditionError);
    await expect(sn.remove('nope')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('walk', () => {
  it('refuses a filter that does not parse', async () => {
    await expect(sn.walk(() => undefined, 'kind==')).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('lets the callback change the snapshotter, and walks what existed when it began', async () => {
    await sn.prepare('a', '');
    await sn.prepare('b', '');
    const seen: string[] = [];
    await sn.walk(async (info) => {
      seen.push(info.name);
      if (info.name === 'a') {
        await sn.remove('b');
        await sn.prepare('c', '');
      }
    });
    expect(seen).toEqual(['a', 'b']);
  });
});

describe('upperdir label', () => {
  it('reports each snapshot tree in stat, update and walk when configured', async () => {
    await open({ upperdirLabel: true });
    const fs = treeOf(await sn.prepare('a', '', { labels: { x: '1' } }));
    expect((await sn.stat('a')).labels).toEqual({ x: '1', [UPPERDIR_LABEL]: fs });
    expect((await sn.update({ name: 'a', labels: { y: '2' } })).labels).toEqual({ y: '2', [UPPERDIR_LABEL]: fs });
    const walked: Record<string, string>[] = [];
    await sn.walk((info) => {
      walked.push({ ...info.labels });
    });
    expect(walked).toEqual([{ y: '2', [UPPERDIR_LABEL]: fs }]);
  });

  it('is not reported otherwise', async () => {
    await sn.prepare('a', '', { labels: { x: '1' } });
    expect((await sn.stat('a')).labels).toEqual({ x: '1' });
  });
});

describe('reopen', () => {
  it('finds its snapshots again, and close is idempotent', async () => {
    await committedBase();
    const mounts = await sn.prepare('a', 'c1');
    await sn.close();
    await sn.close();
    await open();
    expect(await sn.mounts('a')).toEqual(mounts);
    expect((await sn.stat('c1')).kind).toBe('committed');
  });
});
