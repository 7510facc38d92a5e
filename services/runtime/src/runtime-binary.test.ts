import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '@flotilla/errdefs';
import { runtimeResolver, shimBinaryName } from './runtime-binary.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'runtime-binary-'));
  for (const d of ['a', 'b']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'b', 'containerd-shim-fake-v2'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(join(dir, 'a', 'containerd-shim-fake-v2'), 'not executable', { mode: 0o644 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('runtime names and shim binaries', () => {
  it('names the shim binary from the last two parts of the runtime name', () => {
    expect(shimBinaryName('io.containerd.runc.v2')).toBe('containerd-shim-runc-v2');
    expect(shimBinaryName('io.containerd.kata.v2')).toBe('containerd-shim-kata-v2');
    expect(shimBinaryName('runc.v2')).toBe('containerd-shim-runc-v2');
    expect(shimBinaryName('runc')).toBe('');
    expect(shimBinaryName('.x.y')).toBe('');
  });

  it('finds the binary on PATH, skipping files it cannot run', async () => {
    const r = runtimeResolver({ PATH: `${join(dir, 'a')}:${join(dir, 'b')}` });
    expect(await r.resolve('io.containerd.fake.v2')).toBe(join(dir, 'b', 'containerd-shim-fake-v2'));
  });

  it('takes an absolute path as the binary itself', async () => {
    const r = runtimeResolver({ PATH: '' });
    const abs = join(dir, 'b', 'containerd-shim-fake-v2');
    expect(await r.resolve(abs)).toBe(abs);
    await expect(r.resolve(join(dir, 'nothing'))).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses names it cannot map and reports a binary that is not installed', async () => {
    const r = runtimeResolver({ PATH: join(dir, 'a') });
    await expect(r.resolve('')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(r.resolve('bin/shim')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(r.resolve('runc')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(r.resolve('io.containerd.nosuch.v1')).rejects.toThrow(/binary not installed "containerd-shim-nosuch-v1"/);
    await expect(r.resolve('io.containerd.nosuch.v1')).rejects.toBeInstanceOf(NotFoundError);
  });
});
