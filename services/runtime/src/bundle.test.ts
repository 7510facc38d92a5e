import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { createBundle, deleteBundle, loadBundle } from './bundle.js';

let dir: string;
let root: string;
let state: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bundle-'));
  root = join(dir, 'root');
  state = join(dir, 'state');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const spec = (extra: object = {}) => Buffer.from(JSON.stringify({ ociVersion: '1.0.2', ...extra }));

describe('bundles', () => {
  it('lays out a bundle as containerd does: config.json, an empty rootfs, work linked from the root', async () => {
    const b = await createBundle({ root, state, namespace: 'ns', id: 'c1', spec: spec() });
    expect(b).toEqual({ id: 'c1', namespace: 'ns', path: join(state, 'ns', 'c1') });
    expect(readdirSync(b.path).sort()).toEqual(['config.json', 'rootfs', 'work']);
    expect(JSON.parse(readFileSync(join(b.path, 'config.json'), 'utf8'))).toEqual({ ociVersion: '1.0.2' });
    expect(readdirSync(join(b.path, 'rootfs'))).toEqual([]);
    expect(readlinkSync(join(b.path, 'work'))).toBe(join(root, 'ns', 'c1'));
    expect(statSync(b.path).mode & 0o777).toBe(0o700);
    expect(loadBundle(state, 'ns', 'c1')).toEqual(b);
  });

  it('opens the bundle to the remapped root group of a user-namespaced container', async () => {
    const b = await createBundle({ root, state, namespace: 'ns', id: 'userns', spec: spec({ linux: { gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }] } }) });
    expect(statSync(b.path).gid).toBe(100000);
    expect(statSync(b.path).mode & 0o777).toBe(0o710);
  });

  it('replaces what a crash left under the same id', async () => {
    mkdirSync(join(state, 'ns', 'c1'), { recursive: true });
    writeFileSync(join(state, 'ns', 'c1', 'stale'), '');
    mkdirSync(join(root, 'ns', 'c1'), { recursive: true });
    writeFileSync(join(root, 'ns', 'c1', 'stale'), '');
    const b = await createBundle({ root, state, namespace: 'ns', id: 'c1' });
    expect(readdirSync(b.path).sort()).toEqual(['rootfs', 'work']);
    expect(readdirSync(join(root, 'ns', 'c1'))).toEqual([]);
  });

  it('refuses an id containerd would refuse', async () => {
    await expect(createBundle({ root, state, namespace: 'ns', id: '../escape' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(createBundle({ root, state, namespace: 'ns', id: 'bad/id' })).rejects.toThrow(/invalid task id/);
    expect(existsSync(join(state, 'ns', 'bad'))).toBe(false);
  });

  it('deletes the bundle and its work directory, leaving no hidden remains', async () => {
    const b = await createBundle({ root, state, namespace: 'ns', id: 'c1', spec: spec() });
    writeFileSync(join(b.path, 'work', 'scratch'), 'x');
    await deleteBundle(b);
    expect(readdirSync(join(state, 'ns'))).toEqual([]);
    expect(readdirSync(join(root, 'ns'))).toEqual([]);
    await deleteBundle(b); // twice is fine
  });

  it('never follows the work link out of a bundle whose work directory is gone', async () => {
    const b = await createBundle({ root, state, namespace: 'ns', id: 'c1' });
    rmSync(join(root, 'ns', 'c1'), { recursive: true });
    await deleteBundle(b);
    expect(existsSync(b.path)).toBe(false);
    expect(lstatSync(join(root, 'ns')).isDirectory()).toBe(true);
  });
});
