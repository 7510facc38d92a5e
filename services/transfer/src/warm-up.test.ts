import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@flotilla/log';
import { loadPlugins, warmUpPlugins } from '@flotilla/plugin';
import { transferPlugins } from './plugins.js';

const log = createLogger({ service: 'test', level: 'silent' });
let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'diff-warm-up-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('diff warm-up', () => {
  it('makes and applies layers through the scratch Diff service (bind and overlay targets) and leaves nothing mounted', async () => {
    // The real differ is never called: its content service need not exist.
    const opts = { root: join(dir, 'root'), state: join(dir, 'state'), log, peers: { content: join(dir, 'nobody.sock') } };
    const plugins = await loadPlugins(transferPlugins, opts);
    const report = await warmUpPlugins(transferPlugins, plugins, { scratch: join(dir, 'scratch'), log });
    expect(report.failed).toEqual([]);
    expect(report.warmed).toEqual(['io.containerd.grpc.v1.diff']);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
  });
});
