/**
 * containerd's snapshotter conformance suite (core/snapshots/testsuite), ported case by case to Flotilla's
 * Snapshotter. Each case makes the same snapshots, mounts, changes and checks as its Go original and
 * expects the same outcomes; where Go only asks for "an error" we name the errdefs class containerd's
 * overlay snapshotter returns.
 *
 * As in containerd, every case gets a snapshotter with nothing in it (the cases reuse keys such as "c1",
 * and Walk lists everything) and a scratch directory of its own; mounts use @flotilla/snapshots' mountAll,
 * the way a client performs what a snapshotter returns. The process's umask is cleared for the run, as
 * containerd's clearMask does, so that modes are what the appliers ask for.
 *
 * Differences forced by the port, and only those:
 * - LayerFileUpdate runs its five rounds back to back: containerd sleeps to the next second between
 *   rounds, against tar's one-second mtimes, which no snapshot here goes through.
 * - Go's clock has nanoseconds, ours milliseconds; Update's time windows are inclusive, as in Go.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MNT, umount2 } from '@flotilla/native';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '@flotilla/errdefs';
import { mountAll, unmountAll, type Info, type Kind, type Mount, type Snapshotter } from '@flotilla/snapshots';
import {
  apply,
  checkDirectoryEqual,
  checkDirectoryEqualWithApplier,
  chownPath,
  createDir,
  createFile,
  hardLink,
  removeAll,
  renamePath,
  type Applier,
} from './fstest.js';

/** A snapshotter for one case, and how to let go of it. */
export interface CaseSnapshotter {
  readonly snapshotter: Snapshotter;
  /** Release what `open` started; the case has already closed or removed what it meant to. */
  release(): Promise<void>;
}

export interface SnapshotterTarget {
  /** The snapshotter's name as containerd knows it; Rename expects overlayfs's limits of `overlayfs`. */
  readonly name: string;
  /**
   * A snapshotter holding no snapshots, for one case, as `namespace` sees it (each case passes its own).
   * A target without namespaces starts a fresh snapshotter; a namespaced one (the gateway) can serve
   * every case from its own namespace of one snapshotter.
   */
  open(namespace: string): Promise<CaseSnapshotter>;
  /** Called once after the last case. */
  cleanup?(): Promise<void>;
}

/** Mounting needs root, as for native's root-only suites; cases that mount skip themselves otherwise. */
const isRoot = process.getuid?.() === 0;

/** containerd's `opt`: every snapshot the suite makes is a GC root (time.RFC3339, whole seconds). */
const opt = { labels: { 'containerd.io/gc.root': new Date().toISOString().replace(/\.\d+Z$/, 'Z') } };

// --- Mount helpers (containerd's mount.All / testutil.Unmount) --------------------------------------------

async function unmount(dir: string): Promise<void> {
  await unmountAll(dir, 0);
}

/** Every mount point at or under `dir`, deepest first, from this process's mount table. */
async function mountsUnder(dir: string): Promise<string[]> {
  const table = await readFile('/proc/self/mountinfo', 'utf8');
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return table
    .split('\n')
    .map((line) => unescape(line.split(' ')[4] ?? ''))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

// --- Ports of the suite's helpers (core/snapshots/testsuite/helpers.go) -----------------------------------

/** Mount `m` on a fresh directory under work, run the applier, unmount. */
async function applyToMounts(m: Mount[], work: string, a: Applier): Promise<void> {
  const td = await mkdtemp(join(work, 'prepare'));
  try {
    await mountAll(m, td);
    try {
      await a(td);
    } finally {
      await unmountAll(td, 0);
    }
  } finally {
    await rm(td, { recursive: true, force: true });
  }
}

/** A committed snapshot made of the applier over `parent`; its name. */
async function createSnapshot(sn: Snapshotter, parent: string, work: string, a: Applier): Promise<string> {
  const n = `snapshot-${randomUUID()}`;
  const prepare = `${n}-prepare`;
  const m = await sn.prepare(prepare, parent, opt);
  await applyToMounts(m, work, a);
  await sn.commit(n, prepare, opt);
  return n;
}

/** A view of `name`, mounted and compared with the directory `check`, then removed. */
async function checkSnapshot(sn: Snapshotter, work: string, name: string, check: string): Promise<void> {
  const td = await mkdtemp(join(work, 'check'));
  try {
    const view = `${name}-view`;
    const m = await sn.view(view, name, opt);
    try {
      await mountAll(m, td);
      try {
        await checkDirectoryEqual(check, td);
      } finally {
        await unmountAll(td, 0);
      }
    } finally {
      await sn.remove(view);
    }
  } finally {
    await rm(td, { recursive: true, force: true });
  }
}

/**
 * A chain of snapshots, one per applier, each checked through a view against the appliers so far
 * applied to a plain directory.
 */
async function checkSnapshots(sn: Snapshotter, work: string, ...as: Applier[]): Promise<void> {
  const flat = await mkdtemp(join(work, 'flat'));
  try {
    let parent = '';
    for (const [i, a] of as.entries()) {
      const s = await createSnapshot(sn, parent, work, a).catch((err: unknown) => {
        throw new Error(`failed to create snapshot ${i + 1}`, { cause: err });
      });
      await a(flat);
      await checkSnapshot(sn, work, s, flat).catch((err: unknown) => {
        throw new Error(`snapshot check failed on snapshot ${i + 1}: ${(err as Error).message}`, { cause: err });
      });
      parent = s;
    }
  } finally {
    await rm(flat, { recursive: true, force: true });
  }
}

/** checkInfo: two infos of one snapshot agree. */
function expectSameInfo(actual: Info, expected: Info): void {
  expect(actual.kind).toBe(expected.kind);
  expect(actual.name).toBe(expected.name);
  expect(actual.parent).toBe(expected.parent);
  expect({ ...actual.labels }).toEqual({ ...expected.labels });
  expect(actual.created.getTime()).toBe(expected.created.getTime());
  expect(actual.updated.getTime()).toBe(expected.updated.getTime());
}

/** snapshotterPrepareMount: a directory `work/<name>` with an active snapshot keyed by it mounted on it. */
async function prepareMounted(sn: Snapshotter, name: string, parent: string, work: string): Promise<string> {
  const preparing = join(work, name);
  await mkdir(preparing, { recursive: true, mode: 0o777 });
  const mounts = await sn.prepare(preparing, parent, opt);
  expect(mounts.length, 'expected mounts to have entries').toBeGreaterThan(0);
  await mountAll(mounts, preparing);
  return preparing;
}

/**
 * baseTestSnapshots:
 *   c1 committed, no parent; c2 committed on c1; a1 active on c2; a2 active, no parent;
 *   v1 view on c2; v2 view, no parent.
 */
async function baseTestSnapshots(sn: Snapshotter): Promise<void> {
  await sn.prepare('c1-a', '', opt);
  await sn.commit('c1', 'c1-a', opt);
  await sn.prepare('c2-a', 'c1', opt);
  await sn.commit('c2', 'c2-a', opt);
  await sn.prepare('a1', 'c2', opt);
  await sn.prepare('a2', '', opt);
  await sn.view('v1', 'c2', opt);
  await sn.view('v2', '', opt);
}

/** createNamedSnapshots: c1 <- c2 committed, a1 active and v1 view on c2, all under `prefix`. */
async function createNamedSnapshots(sn: Snapshotter, prefix: string): Promise<void> {
  const c1 = `${prefix}c1`;
  const c2 = `${prefix}c2`;
  await sn.prepare(`${c1}-a`, '', opt);
  await sn.commit(c1, `${c1}-a`, opt);
  await sn.prepare(`${c2}-a`, c1, opt);
  await sn.commit(c2, `${c2}-a`, opt);
  await sn.prepare(`${prefix}a1`, c2, opt);
  await sn.view(`${prefix}v1`, c2, opt);
}

async function walkNames(sn: Snapshotter, ...filters: string[]): Promise<string[]> {
  const names: string[] = [];
  await sn.walk((info) => {
    names.push(info.name);
  }, ...filters);
  return names.sort();
}

// --- The suite -------------------------------------------------------------------------------------------

type Case = (sn: Snapshotter, work: string, target: SnapshotterTarget) => Promise<void>;

export function snapshotterSuite(name: string, setup: () => Promise<SnapshotterTarget>): void {
  describe(name, () => {
    let target: SnapshotterTarget | undefined;
    let umask: number | undefined;
    beforeAll(async () => {
      umask = process.umask(0);
      target = await setup();
    });
    afterAll(async () => {
      await target?.cleanup?.();
      if (umask !== undefined) process.umask(umask);
    });

    /**
     * containerd's makeTest: a scratch directory with `work/` for the case, and a snapshotter of the
     * case's own. Whatever the case leaves mounted under its directory is detached before it is deleted,
     * so a failed case cannot take a snapshot's files down with its scratch directory.
     */
    const run = (caseName: string, fn: Case) => async () => {
      if (!target) throw new Error('snapshotter target did not start');
      const opened = await target.open(`testsuite-${caseName.toLowerCase()}`);
      let tmp: string | undefined;
      try {
        tmp = await mkdtemp(join(tmpdir(), `snapshot-suite-${target.name}-`));
        const work = join(tmp, 'work');
        await mkdir(work, { recursive: true, mode: 0o777 });
        await fn(opened.snapshotter, work, target);
      } finally {
        if (tmp !== undefined) {
          for (const m of await mountsUnder(tmp)) await umount2(m, MNT.MNT_DETACH).catch(() => undefined);
        }
        await opened.release();
        if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
      }
    };
    const test = (caseName: string, fn: Case) => it(caseName, run(caseName, fn));
    /** A case that mounts. */
    const mountTest = (caseName: string, fn: Case) => it.skipIf(!isRoot)(caseName, run(caseName, fn));

    // The basic workflow: prepare, fill, commit; a child on it; a view of the grandchild; removal order.
    mountTest('Basic', async (sn, work) => {
      const initialApplier = apply(
        createFile('/foo', 'foo\n', 0o777),
        createDir('/a', 0o755),
        createDir('/a/b', 0o755),
        createDir('/a/b/c', 0o755),
      );
      const diffApplier = apply(
        createFile('/bar', 'bar\n', 0o777),
        // also, change content of foo to bar
        createFile('/foo', 'bar\n', 0o777),
        removeAll('/a/b'),
      );

      const preparing = join(work, 'preparing');
      await mkdir(preparing, { recursive: true, mode: 0o777 });
      let mounts = await sn.prepare(preparing, '', opt);
      expect(mounts.length, 'expected mounts to have entries').toBeGreaterThan(0);
      await mountAll(mounts, preparing);
      try {
        await initialApplier(preparing);
      } finally {
        await unmount(preparing);
      }

      const committed = join(work, 'committed');
      await sn.commit(committed, preparing, opt);
      const si = await sn.stat(committed);
      expect(si.parent).toBe('');
      expect(si.kind).toBe<Kind>('committed');
      await expect(sn.stat(preparing), `${preparing} should no longer be available after Commit`).rejects.toBeInstanceOf(NotFoundError);

      const next = join(work, 'nextlayer');
      await mkdir(next, { recursive: true, mode: 0o777 });
      mounts = await sn.prepare(next, committed, opt);
      await mountAll(mounts, next);
      try {
        await checkDirectoryEqualWithApplier(next, initialApplier);
        await diffApplier(next);
      } finally {
        await unmount(next);
      }

      const ni = await sn.stat(next);
      expect(ni.parent).toBe(committed);
      expect(ni.kind).toBe<Kind>('active');

      const nextCommitted = join(work, 'committed-next');
      await sn.commit(nextCommitted, next, opt);
      const si2 = await sn.stat(nextCommitted);
      expect(si2.parent).toBe(committed);
      expect(si2.kind).toBe<Kind>('committed');
      await expect(sn.stat(next), `${next} should no longer be available after Commit`).rejects.toBeInstanceOf(NotFoundError);

      const walked = new Map<string, Info>(); // walk is not ordered
      await sn.walk((info) => {
        walked.set(info.name, info);
      });
      for (const expected of [si, si2]) {
        const got = walked.get(expected.name);
        expect(got, `missing stat for ${expected.name}`).toBeDefined();
        expectSameInfo(got!, expected);
      }

      const nextnext = join(work, 'nextnextlayer');
      await mkdir(nextnext, { recursive: true, mode: 0o777 });
      mounts = await sn.view(nextnext, nextCommitted, opt);
      await mountAll(mounts, nextnext);
      try {
        await checkDirectoryEqualWithApplier(nextnext, apply(initialApplier, diffApplier));
      } finally {
        await unmount(nextnext);
      }
      await sn.remove(nextnext);

      // A snapshot with a child cannot go; leaf first works.
      await expect(sn.remove(committed)).rejects.toBeInstanceOf(FailedPreconditionError);
      await sn.remove(nextCommitted);
      await sn.remove(committed);
    });

    // Stat of a prepared snapshot says active, no parent.
    mountTest('StatActive', async (sn, work) => {
      const preparing = await prepareMounted(sn, 'preparing', '', work);
      try {
        await writeFile(join(preparing, 'foo'), 'foo\n', { mode: 0o777 });
        const si = await sn.stat(preparing);
        expect(si.name).toBe(preparing);
        expect(si.kind).toBe<Kind>('active');
        expect(si.parent).toBe('');
      } finally {
        await unmount(preparing);
      }
    });

    // Stat of a committed snapshot says committed, no parent.
    mountTest('StatCommitted', async (sn, work) => {
      const preparing = await prepareMounted(sn, 'preparing', '', work);
      try {
        await writeFile(join(preparing, 'foo'), 'foo\n', { mode: 0o777 });
        const committed = join(work, 'committed');
        // containerd commits while the snapshot is still mounted here, and so do we.
        await sn.commit(committed, preparing, opt);
        const si = await sn.stat(committed);
        expect(si.name).toBe(committed);
        expect(si.kind).toBe<Kind>('committed');
        expect(si.parent).toBe('');
      } finally {
        await unmount(preparing);
      }
    });

    // A <- B: B's parent is A, and A has none.
    mountTest('TransitivityTest', async (sn, work) => {
      const preparing = await prepareMounted(sn, 'preparing', '', work);
      try {
        await writeFile(join(preparing, 'foo'), 'foo\n', { mode: 0o777 });
      } finally {
        await unmount(preparing);
      }
      const snapA = join(work, 'snapA');
      await sn.commit(snapA, preparing, opt);

      const next = await prepareMounted(sn, 'next', snapA, work);
      try {
        await writeFile(join(next, 'foo'), 'foo bar\n', { mode: 0o777 });
      } finally {
        await unmount(next);
      }
      const snapB = join(work, 'snapB');
      await sn.commit(snapB, next, opt);

      const siA = await sn.stat(snapA);
      const siB = await sn.stat(snapB);
      const siParentB = await sn.stat(siB.parent);
      expect(siA.parent).toBe('');
      expect(siB.parent).toBe(snapA);
      expect(siParentB.parent).toBe('');
    });

    // Two Prepare or View calls with one key: the second fails (AlreadyExists).
    mountTest('PrepareViewFailingTest', async (sn, work) => {
      const preparing = await prepareMounted(sn, 'preparing', '', work);
      await unmount(preparing);
      const snapA = join(work, 'snapA');
      await sn.commit(snapA, preparing, opt);

      const newLayer = join(work, 'newlayer');
      await sn.prepare(newLayer, snapA, opt);
      await expect(sn.view(newLayer, snapA, opt)).rejects.toBeInstanceOf(AlreadyExistsError);

      const prepLayer = join(work, 'prepLayer');
      await sn.prepare(prepLayer, snapA, opt);
      await expect(sn.prepare(prepLayer, snapA, opt)).rejects.toBeInstanceOf(AlreadyExistsError);

      const viewLayer = join(work, 'viewLayer');
      await sn.view(viewLayer, snapA, opt);
      await expect(sn.view(viewLayer, snapA, opt)).rejects.toBeInstanceOf(AlreadyExistsError);
    });

    // Labels of every kind can be replaced, set one by one, and replaced by field path; nothing else.
    test('Update', async (sn) => {
      const t1 = Date.now();
      await baseTestSnapshots(sn);
      const t2 = Date.now();
      const cases: { name: string; kind: Kind; parent: string }[] = [
        { name: 'c1', kind: 'committed', parent: '' },
        { name: 'c2', kind: 'committed', parent: 'c1' },
        { name: 'a1', kind: 'active', parent: 'c2' },
        { name: 'a2', kind: 'active', parent: '' },
        { name: 'v1', kind: 'view', parent: 'c2' },
        { name: 'v2', kind: 'view', parent: '' },
      ];
      for (const tc of cases) {
        let st = await sn.stat(tc.name);
        const created = st.created.getTime();
        expect(created, `(${tc.name}) created time`).toBeGreaterThanOrEqual(t1);
        expect(created, `(${tc.name}) created time`).toBeLessThanOrEqual(t2);
        expect(st.updated.getTime(), `(${tc.name}) updated time`).toBe(created);
        expect(st.kind, `(${tc.name}) kind`).toBe(tc.kind);
        expect(st.parent, `(${tc.name}) parent`).toBe(tc.parent);
        expect(st.name, `(${tc.name}) name`).toBe(tc.name);

        const rootTime = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
        let expected: Record<string, string> = { l1: 'v1', l2: 'v2', l3: 'v3', 'containerd.io/gc.root': rootTime };
        const u1 = Date.now();
        // The parent is not a label: with no field paths only the labels change.
        st = await sn.update({ ...st, parent: 'doesnotexist', labels: expected });
        const u2 = Date.now();
        expect(st.created.getTime(), `(${tc.name}) created time`).toBe(created);
        expect(st.updated.getTime(), `(${tc.name}) updated time`).toBeGreaterThanOrEqual(u1);
        expect(st.updated.getTime(), `(${tc.name}) updated time`).toBeLessThanOrEqual(u2);
        expect(st.kind, `(${tc.name}) kind`).toBe(tc.kind);
        expect(st.parent, `(${tc.name}) parent`).toBe(tc.parent);
        expect(st.name, `(${tc.name}) name`).toBe(tc.name);
        expect({ ...st.labels }).toEqual(expected);

        // labels.l2 names a label absent from the update: it goes.
        expected = { l1: 'updated', l3: 'v3', 'containerd.io/gc.root': rootTime };
        st = await sn.update({ ...st, labels: { l1: 'updated', l4: 'v4' } }, ['labels.l1', 'labels.l2']);
        expect({ ...st.labels }).toEqual(expected);

        expected = { l4: 'v4', 'containerd.io/gc.root': rootTime };
        st = await sn.update({ ...st, labels: expected }, ['labels']);
        expect({ ...st.labels }).toEqual(expected);

        // An immutable field path is refused.
        await expect(sn.update({ ...st, parent: 'doesnotexist' }, ['parent'])).rejects.toBeInstanceOf(InvalidArgumentError);
      }
    });

    // A removed key can be reused at once, for any kind; a committed name too.
    test('Remove', async (sn) => {
      await sn.prepare('committed-a', '', opt);
      await sn.commit('committed-1', 'committed-a', opt);
      await sn.prepare('reuse-1', 'committed-1', opt);
      await sn.remove('reuse-1');
      await sn.view('reuse-1', 'committed-1', opt);
      await sn.remove('reuse-1');
      await sn.prepare('reuse-1', '', opt);
      await sn.remove('committed-1');
      await sn.commit('committed-1', 'reuse-1', opt);
    });

    // Walk's filters: kind, name, parent, labels, presence, and several filters (any of them).
    test('Walk', async (sn) => {
      const gc = { 'containerd.io/gc.root': 'check-walk' };
      const walkOpt = { labels: gc };
      await sn.prepare('a-np', '', walkOpt); // no parent active
      await sn.prepare('p-tmp', '', walkOpt); // base parent
      await sn.commit('p', 'p-tmp', walkOpt);
      await sn.prepare('a', 'p', walkOpt); // active
      await sn.view('v', 'p', walkOpt); // view
      await sn.prepare('p-wl-tmp', '', walkOpt); // base parent with label=1
      await sn.commit('p-wl', 'p-wl-tmp', { labels: { l: '1', ...gc } });
      await sn.prepare('a-wl', 'p-wl', { labels: { l: '2', ...gc } }); // active with label=2
      await sn.view('v-wl', 'p-wl', { labels: { l: '3', ...gc } }); // view with label=3
      await sn.prepare('a-np-wl', '', { labels: { l: '2', ...gc } }); // no parent active with label=2

      const cases: { matches: string[]; filters: string[] }[] = [
        { matches: ['a-np', 'p', 'a', 'v', 'p-wl', 'a-wl', 'v-wl', 'a-np-wl'], filters: ['labels."containerd.io/gc.root"==check-walk'] },
        { matches: ['a-np', 'a', 'a-wl', 'a-np-wl'], filters: ['kind==active,labels."containerd.io/gc.root"==check-walk'] },
        { matches: ['v', 'v-wl'], filters: ['kind==view,labels."containerd.io/gc.root"==check-walk'] },
        { matches: ['p', 'p-wl'], filters: ['kind==committed,labels."containerd.io/gc.root"==check-walk'] },
        { matches: ['p', 'a-np-wl'], filters: ['name==p', 'name==a-np-wl'] },
        { matches: ['a-wl'], filters: ['name==a-wl,labels.l'] },
        { matches: ['a', 'v'], filters: ['parent==p'] },
        { matches: ['a', 'v', 'a-wl', 'v-wl'], filters: ['parent!="",labels."containerd.io/gc.root"==check-walk'] },
        { matches: ['p-wl', 'a-wl', 'v-wl', 'a-np-wl'], filters: ['labels.l'] },
        { matches: ['a-wl', 'a-np-wl'], filters: ['labels.l==2'] },
      ];
      for (const [i, tc] of cases.entries()) {
        expect(await walkNames(sn, ...tc.filters), `[${i}] ${tc.filters.join(' | ')}`).toEqual([...tc.matches].sort());
      }
    });

    // Changing a file of the lower layer (docker/docker#21555), five times over.
    mountTest('LayerFileUpdate', async (sn, work) => {
      const l1Init = apply(
        createDir('/etc', 0o700),
        createFile('/etc/hosts', 'mydomain 10.0.0.1', 0o644),
        createFile('/etc/profile', 'PATH=/usr/bin', 0o644),
      );
      const l2Init = apply(
        createFile('/etc/hosts', 'mydomain 10.0.0.2', 0o644),
        createFile('/etc/profile', 'PATH=/usr/bin', 0o666),
        createDir('/root', 0o700),
        createFile('/root/.bashrc', 'PATH=/usr/sbin:/usr/bin', 0o644),
      );
      for (let i = 0; i < 5; i++) await checkSnapshots(sn, work, l1Init, l2Init);
    });

    // A directory removed and made again hides what the lower one held (docker/docker#25244).
    mountTest('RemoveDirectoryInLowerLayer', async (sn, work) => {
      const l1Init = apply(createDir('/lib', 0o700), createFile('/lib/hidden', '', 0o644));
      const l2Init = apply(removeAll('/lib'), createDir('/lib', 0o700), createFile('/lib/not-hidden', '', 0o644));
      const l3Init = apply(createFile('/lib/newfile', '', 0o644));
      await checkSnapshots(sn, work, l1Init, l2Init, l3Init);
    });

    // Ownership changed in an upper layer, files and directories (docker/docker#20240, #24913, #28391).
    mountTest('Chown', async (sn, work) => {
      const l1Init = apply(
        createDir('/opt', 0o700),
        createDir('/opt/a', 0o700),
        createDir('/opt/a/b', 0o700),
        createFile('/opt/a/b/file.txt', 'hello', 0o644),
      );
      const l2Init = apply(
        chownPath('/opt', 1, 1),
        chownPath('/opt/a', 1, 1),
        chownPath('/opt/a/b', 1, 1),
        chownPath('/opt/a/b/file.txt', 1, 1),
      );
      await checkSnapshots(sn, work, l1Init, l2Init);
    });

    // Ownership of directories across three layers, including ones removed and made again (docker/docker#27298).
    mountTest('DirectoryPermissionOnCommit', async (sn, work) => {
      const l1Init = apply(
        createDir('/dir1', 0o700),
        createDir('/dir2', 0o700),
        createDir('/dir3', 0o700),
        createDir('/dir4', 0o700),
        createFile('/dir4/f1', '...', 0o644),
        createDir('/dir5', 0o700),
        createFile('/dir5/f1', '...', 0o644),
        chownPath('/dir1', 1, 1),
        chownPath('/dir2', 1, 1),
        chownPath('/dir3', 1, 1),
        chownPath('/dir5', 1, 1),
        chownPath('/dir5/f1', 1, 1),
      );
      const l2Init = apply(
        chownPath('/dir2', 0, 0),
        removeAll('/dir3'),
        chownPath('/dir4', 1, 1),
        chownPath('/dir4/f1', 1, 1),
      );
      const l3Init = apply(
        createDir('/dir3', 0o700),
        chownPath('/dir3', 1, 1),
        removeAll('/dir5'),
        createDir('/dir5', 0o700),
        chownPath('/dir5', 1, 1),
      );
      await checkSnapshots(sn, work, l1Init, l2Init, l3Init);
    });

    // base <- inter <- top: inter cannot go while top exists; top, inter, base can.
    mountTest('RemoveIntermediateSnapshot', async (sn, work) => {
      const base = await prepareMounted(sn, 'base', '', work);
      await unmount(base);
      const committedBase = join(work, 'committed-base');
      await sn.commit(committedBase, base, opt);

      const intermediate = join(work, 'intermediate');
      await sn.prepare(intermediate, committedBase, opt);
      const committedInter = join(work, 'committed-inter');
      await sn.commit(committedInter, intermediate, opt);

      const topLayer = join(work, 'toplayer');
      await sn.prepare(topLayer, committedInter, opt);

      await expect(sn.remove(committedInter), 'intermediate layer removal should fail').rejects.toBeInstanceOf(FailedPreconditionError);
      await sn.remove(topLayer);
      await sn.remove(committedInter);
      await sn.remove(committedBase);
    });

    // Files of the base layer deleted in a child stay deleted in its children.
    mountTest('DeletedFilesInChildSnapshot', async (sn, work) => {
      const l1Init = apply(createFile('/foo', 'foo\n', 0o777), createFile('/foobar', 'foobar\n', 0o777));
      const l2Init = apply(removeAll('/foobar'));
      const l3Init = apply();
      await checkSnapshots(sn, work, l1Init, l2Init, l3Init);
    });

    // Files of a lower layer moved (copied, hard-linked, removed) in an upper one.
    mountTest('MoveFileFromLowerLayer', async (sn, work) => {
      const l1Init = apply(
        createDir('/dir1', 0o700),
        createFile('/dir1/f1', 'Hello', 0o644),
        createDir('dir2', 0o700),
        createFile('dir2/f2', '...', 0o644),
      );
      const l2Init = apply(
        createDir('/dir3', 0o700),
        createFile('/dir3/f1', 'Hello', 0o644),
        removeAll('/dir1'),
        hardLink('dir2/f2', 'dir3/f2'),
        removeAll('dir2/f2'),
      );
      await checkSnapshots(sn, work, l1Init, l2Init);
    });

    // A view, once mounted, cannot be written (containerd#1368: the options alone prove nothing).
    mountTest('ViewReadonly', async (sn, work) => {
      const preparing = join(work, 'preparing');
      await sn.prepare(preparing, '', opt);
      const committed = join(work, 'committed');
      await sn.commit(committed, preparing, opt);
      const view = join(work, 'view');
      const m = await sn.view(view, committed, opt);
      const viewMountPoint = join(work, 'view-mount');
      await mkdir(viewMountPoint, { recursive: true, mode: 0o777 });
      await mountAll(m, viewMountPoint);
      const testfile = join(viewMountPoint, 'testfile');
      const written = await writeFile(testfile, 'testcontent', { mode: 0o777 }).then(() => true, () => false);
      await unmount(viewMountPoint);
      expect(written, `write to ${testfile} should fail (EROFS) but did not fail`).toBe(false);
      await sn.remove(view);
      await sn.remove(committed);
    });

    // Stat from inside a walk's callback agrees with what the walk gave.
    test('StatInWalk', async (sn) => {
      const prefix = 'stats-in-walk-';
      await createNamedSnapshots(sn, prefix);
      let checked = 0;
      await sn.walk(async (si) => {
        if (!si.name.startsWith(prefix)) return; // only stat snapshots from this test
        expectSameInfo(await sn.stat(si.name), si);
        checked++;
      });
      expect(checked, "c1, c2, a1 and v1").toBe(4);
    });

    // Closing twice is not an error.
    test('CloseTwice', async (sn) => {
      const n = `closeTwice-${randomUUID()}`;
      const prepare = `${n}-prepare`;
      // do some dummy ops to modify the snapshotter internal state
      await sn.prepare(prepare, '', opt);
      await sn.commit(n, prepare, opt);
      await sn.remove(n);
      await sn.close();
      await sn.close();
    });

    // The root of a new tree is 0755.
    mountTest('RootPermission', async (sn, work) => {
      const preparing = await prepareMounted(sn, 'preparing', '', work);
      try {
        const mode = (await stat(preparing)).mode & 0o777;
        expect(mode.toString(8), 'expected 0755').toBe('755');
      } finally {
        await unmount(preparing);
      }
    });

    // Files renamed over and renamed in an upper layer (docker/docker#25409). Renaming a directory of a
    // lower layer needs overlay's redirect_dir, so containerd leaves it out for overlayfs.
    mountTest('Rename', async (sn, work, t) => {
      const l1Init = apply(
        createDir('/dir1', 0o700),
        createDir('/somefiles', 0o700),
        createFile('/somefiles/f1', 'was here first!', 0o644),
        createFile('/somefiles/f2', 'nothing interesting', 0o644),
      );
      const appliers: Applier[] = [];
      if (t.name !== 'overlayfs' && t.name !== 'fuse-overlayfs') appliers.push(renamePath('/dir1', '/dir2'));
      appliers.push(
        createFile('/somefiles/f1-overwrite', 'new content 1', 0o644),
        renamePath('/somefiles/f1-overwrite', '/somefiles/f1'),
        renamePath('/somefiles/f2', '/somefiles/f3'),
      );
      await checkSnapshots(sn, work, l1Init, apply(...appliers));
    });

    // 128 layers, each mounted over all before it, and a view of them all: more lower directories than
    // one page of mount options can name.
    mountTest('128LayersMount', async (sn, work) => {
      const lowestApply = apply(
        createFile('/bottom', 'way at the bottom\n', 0o777),
        createFile('/overwriteme', 'FIRST!\n', 0o777),
        createDir('/addhere', 0o755),
        createDir('/onlyme', 0o755),
        createFile('/onlyme/bottom', 'bye!\n', 0o777),
      );
      const appliers: Applier[] = [lowestApply];
      for (let i = 1; i <= 127; i++) {
        appliers.push(apply(
          createFile('/overwriteme', `${i} WAS HERE!\n`, 0o777),
          createFile(`/addhere/file-${i}`, 'same\n', 0o755),
          removeAll('/onlyme'),
          createDir('/onlyme', 0o755),
          createFile(`/onlyme/file-${i}`, 'only me!\n', 0o777),
        ));
      }

      const flat = join(work, 'flat');
      await mkdir(flat, { recursive: true, mode: 0o777 });
      let parent = '';
      for (const [i, applier] of appliers.entries()) {
        const preparing = join(work, `prepare-layer-${i}`);
        await mkdir(preparing, { recursive: true, mode: 0o777 });
        const mounts = await sn.prepare(preparing, parent, opt);
        await mountAll(mounts, preparing).catch((err: unknown) => {
          throw new Error(`[layer ${i}] failed to mount on the target(${preparing})`, { cause: err });
        });
        try {
          await checkDirectoryEqual(flat, preparing).catch((err: unknown) => {
            throw new Error(`[layer ${i}] preparing doesn't equal to flat before apply: ${(err as Error).message}`);
          });
          await applier(flat);
          await applier(preparing);
          await checkDirectoryEqual(flat, preparing).catch((err: unknown) => {
            throw new Error(`[layer ${i}] preparing doesn't equal to flat after apply: ${(err as Error).message}`);
          });
        } finally {
          await unmount(preparing);
        }
        parent = join(work, `committed-${i}`);
        await sn.commit(parent, preparing, opt);
      }

      const view = join(work, 'fullview');
      await mkdir(view, { recursive: true, mode: 0o777 });
      const mounts = await sn.view(view, parent, opt);
      await mountAll(mounts, view);
      try {
        await checkDirectoryEqual(flat, view);
      } finally {
        await unmount(view);
      }
    });
  });
}
