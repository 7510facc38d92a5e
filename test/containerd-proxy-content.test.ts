import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startContainerd, type Containerd } from './support/containerd.js';
import { startServiceProcess, type ServiceProcess } from './support/service-process.js';
import { run } from './support/exec.js';

// A real containerd loads Flotilla's content process as its content store: `[proxy_plugins.NAME]
// type = "content"`, with its own local store disabled so every blob goes through ours.
const dir = mkdtempSync(join(tmpdir(), 'proxy-content-'));
let p: ServiceProcess;
let c: Containerd;

beforeAll(async () => {
  p = await startServiceProcess('content');
  c = await startContainerd({
    extraConfig: `
[proxy_plugins.flotilla]
  type = "content"
  address = "${p.socket}"
`,
    disabledPlugins: ['io.containerd.content.v1.content'],
  });
});
afterAll(async () => {
  await c?.stop();
  await p?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the content process as containerd\'s proxy content plugin', () => {
  it('is listed by containerd', async () => {
    const r = await c.ctr(['plugins', 'ls', 'type==io.containerd.content.v1']);
    expect(r.stdout).toMatch(/^io\.containerd\.content\.v1\s+flotilla\s+-\s+ok\s*$/m);
  });

  it('stores what containerd ingests, serves it back, and keeps labels', async () => {
    const data = randomBytes(2 << 20);
    const file = join(dir, 'blob');
    writeFileSync(file, data);
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const ingest = await run('sh', ['-c', `ctr -a ${c.address} content ingest --expected-digest ${digest} proxied < ${file}`]);
    expect(ingest.code, ingest.stderr).toBe(0);
    // The bytes are in Flotilla's store, not containerd's.
    expect(existsSync(join(p.root, 'io.containerd.content.v1.content', 'blobs', 'sha256', digest.slice(7)))).toBe(true);
    const got = await run('sh', ['-c', `ctr -a ${c.address} content get ${digest} | sha256sum`]);
    expect(got.stdout.split(' ')[0]).toBe(digest.slice(7));
    expect((await c.ctr(['content', 'label', digest, 'via=proxy'])).code).toBe(0);
    expect((await c.ctr(['content', 'ls'])).stdout).toMatch(new RegExp(`^${digest}\\s.*via=proxy`, 'm'));
  });
});
