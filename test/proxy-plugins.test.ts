import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Snapshots, Kind } from '@flotilla/proto/containerd/services/snapshots/v1/snapshots_pb';
import { Health } from '@flotilla/proto/grpc/health/v1/health_pb';
import { createLogger } from '@flotilla/log';
import { createHealth, createRpcServer, definitionOf, listenUnix, requireNamespace, withUnimplemented, type RpcServer } from '@flotilla/rpc';
import { startFlotilla, type Flotilla } from './support/flotilla.js';

// A remote snapshotter as a vendor would ship it: its own process serving containerd's Snapshots API on a
// socket. This one knows a single snapshot and records which namespace each call came from.
const dir = mkdtempSync(join(tmpdir(), 'proxy-'));
const socket = join(dir, 'remote-snapshotter.sock');
const seen: { method: string; namespace: string; snapshotter: string }[] = [];
let remote: RpcServer;
let f: Flotilla;

beforeAll(async () => {
  const log = createLogger({ service: 'remote', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  remote = createRpcServer(log);
  remote.add(definitionOf(Snapshots), withUnimplemented(Snapshots, {
    async *list(req, ctx) {
      seen.push({ method: 'List', namespace: requireNamespace(ctx.metadata), snapshotter: req.snapshotter });
      yield { info: [{ name: 'remote-layer', kind: Kind.COMMITTED, labels: { vendor: 'acme' } }] };
    },
    async stat(req, ctx) {
      seen.push({ method: 'Stat', namespace: requireNamespace(ctx.metadata), snapshotter: req.snapshotter });
      return { info: { name: req.key, kind: Kind.COMMITTED, labels: { vendor: 'acme' } } };
    },
  }));
  remote.add(definitionOf(Health), createHealth().implementation);
  await listenUnix(remote, socket);
  f = await startFlotilla({
    extraConfig: `
[proxy_plugins.acme]
  type = "snapshot"
  address = "${socket}"
  platform = "linux/amd64"
  capabilities = ["remote-snapshots"]
  exports = { root = "/var/lib/acme" }
`,
  });
});

afterAll(async () => {
  await f?.stop();
  await remote?.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

describe('[proxy_plugins]', () => {
  it('are listed by introspection with their configured type, platform, capabilities and exports', async () => {
    const r = await f.ctr(['plugins', 'ls']);
    expect(r.stdout).toMatch(/^io\.containerd\.snapshotter\.v1\s+acme\s+linux\/amd64\s+ok\s*$/m);
    const p = (await f.plugins()).find((x) => x.id === 'acme');
    expect(p?.capabilities).toEqual(['remote-snapshots']);
    expect(p?.exports).toMatchObject({ root: '/var/lib/acme', address: socket });
  });

  it('receive the Snapshots calls that name them, with the caller namespace', async () => {
    const ls = await f.ctr(['snapshots', '--snapshotter', 'acme', 'ls'], { namespace: 'team1' });
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/^remote-layer\s+Committed\s*$/m);
    const info = await f.ctr(['snapshots', '--snapshotter', 'acme', 'info', 'some-key'], { namespace: 'team1' });
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ Name: 'some-key', Labels: { vendor: 'acme' } });
    expect(seen).toEqual([
      { method: 'List', namespace: 'team1', snapshotter: 'acme' },
      { method: 'Stat', namespace: 'team1', snapshotter: 'acme' },
    ]);
  });

  it('leave other snapshotters to their owners, and refuse unknown names as containerd does', async () => {
    const overlay = await f.ctr(['snapshots', '--snapshotter', 'overlayfs', 'ls'], { namespace: 'team1' });
    // The overlay process is reached and answers from its own snapshots (none), not from acme's.
    expect(overlay.code, overlay.stderr).toBe(0);
    expect(overlay.stdout).not.toMatch(/remote-layer/);
    const unknown = await f.ctr(['snapshots', '--snapshotter', 'nosuch', 'ls'], { namespace: 'team1' });
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/snapshotter not loaded: nosuch: invalid argument/);
  });

  it('serve the gateway and plugin sockets with mode 0660', async () => {
    expect(statSync(f.address).mode & 0o777).toBe(0o660);
    for (const p of (await f.plugins()).filter((x) => x.type === 'io.flotilla.process.v1')) {
      expect(statSync(p.exports['address']!).mode & 0o777, p.id).toBe(0o660);
    }
  });
});
