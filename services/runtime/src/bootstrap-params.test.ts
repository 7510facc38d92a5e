import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError, NotImplementedError } from '@flotilla/errdefs';
import { parseStartResponse, restoreBootstrapParams, writeBootstrapParams } from './bootstrap-params.js';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'bootstrap-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('shim bootstrap parameters', () => {
  it('reads the bare address a containerd 1.x shim prints as ttrpc, version 2', () => {
    expect(parseStartResponse('unix:///run/containerd/s/abc\n')).toEqual({ version: 2, address: 'unix:///run/containerd/s/abc', protocol: 'ttrpc' });
  });

  it('reads the JSON a newer shim prints', () => {
    expect(parseStartResponse('{"version":3,"address":"unix:///s/x","protocol":"ttrpc"}')).toEqual({ version: 3, address: 'unix:///s/x', protocol: 'ttrpc' });
    // JSON claiming an older version is the legacy form, as containerd reads it.
    expect(parseStartResponse('{"version":1}')).toMatchObject({ version: 2, protocol: 'ttrpc', address: '{"version":1}' });
  });

  it('refuses a task API version it does not speak', () => {
    expect(() => parseStartResponse('{"version":4,"address":"x","protocol":"ttrpc"}')).toThrow(NotImplementedError);
  });

  it('keeps them in bootstrap.json, and migrates a bundle that only has the shim\'s address file', async () => {
    await writeBootstrapParams(dir, { version: 2, address: 'unix:///s/one', protocol: 'ttrpc' });
    expect(JSON.parse(readFileSync(join(dir, 'bootstrap.json'), 'utf8'))).toEqual({ version: 2, address: 'unix:///s/one', protocol: 'ttrpc' });
    expect(await restoreBootstrapParams(dir)).toEqual({ version: 2, address: 'unix:///s/one', protocol: 'ttrpc' });

    rmSync(join(dir, 'bootstrap.json'));
    writeFileSync(join(dir, 'address'), 'unix:///s/two');
    expect(await restoreBootstrapParams(dir)).toEqual({ version: 2, address: 'unix:///s/two', protocol: 'ttrpc' });
    expect(JSON.parse(readFileSync(join(dir, 'bootstrap.json'), 'utf8')).address).toBe('unix:///s/two');

    rmSync(join(dir, 'bootstrap.json'));
    writeFileSync(join(dir, 'address'), '');
    await expect(restoreBootstrapParams(dir)).rejects.toBeInstanceOf(NotFoundError);
  });
});
