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
// socket. This one keeps what it is asked to prepare (beside a layer of its own), labels every snapshot
// with its vendor, and records which namespace each call came from.
const dir = mkdtempSync(join(tmpdir(), 'proxy-'));
const socket = join(dir, 'remote-snapshotter.sock');
const seen: { method: string; namespace: string; snapshotter: string; key: string }[] = [];
const prepared = new Set<string>();
let remote: RpcServer;
let f: Flotilla;

beforeAll(async () => {
  const log = createLogger({ service: 'remote', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  remote = createRpcServer(log);
  remote.add(definitionOf(Snapshots), withUnimplemented(Snapshots, {
    async *list(req, ctx) {
      seen.push({ method: 'List', namespace: requireNamespace(ctx.metadata), snapshotter: req.snapshotter, key: '' });
      yield { info: [{ name: 'remote-layer', kind: Kind.COMMITTED, labels: { vendor: 'acme' } }] };
    },
    async prepare(req, ctx) {
      seen.push({ method: 'Prepare', namespace: requireNamespace(ctx.metadata), snapshotter: req.snapshotter, key: req.key });
      prepared.add(req.key);
      return { mounts: [{ type: 'bind', source: `/var/lib/acme/${req.key}`, target: '', options: ['rbind', 'rw'] }] };
    },
    async stat(req, ctx) {
      seen.push({ method: 'Stat', namespace: requireNamespace(ctx.metadata), snapshotter: req.snapshotter, key: req.key });
      const kind = prepared.has(req.key) ? Kind.ACTIVE : Kind.COMMITTED;
      return { info: { name: req.key, kind, labels: { vendor: 'acme' } } };
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

  it('receive the Snapshots calls that name them, with the caller namespace, behind the namespaced metadata', async () => {
    // As in containerd, the gateway's metadata stands in front of a proxy snapshotter: a namespace sees
    // only the snapshots it made, and the backend gets containerd's backend keys
    // (`<namespace>/<sequence>/<key>`) with the caller's namespace.
    const prepare = await f.ctr(['snapshots', '--snapshotter', 'acme', 'prepare', 'k1'], { namespace: 'team1' });
    expect(prepare.code, prepare.stderr).toBe(0);
    const ls = await f.ctr(['snapshots', '--snapshotter', 'acme', 'ls'], { namespace: 'team1' });
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/^k1\s+Active\s*$/m);
    expect(ls.stdout).not.toMatch(/remote-layer/);
    const info = await f.ctr(['snapshots', '--snapshotter', 'acme', 'info', 'k1'], { namespace: 'team1' });
    expect(info.code, info.stderr).toBe(0);
    // The backend's own labels show through the namespace's record.
    expect(JSON.parse(info.stdout)).toMatchObject({ Name: 'k1', Kind: 'Active', Labels: { vendor: 'acme' } });
    const other = await f.ctr(['snapshots', '--snapshotter', 'acme', 'ls'], { namespace: 'team2' });
    expect(other.code, other.stderr).toBe(0);
    expect(other.stdout).not.toMatch(/k1/);
    expect(seen).toEqual([
      { method: 'Prepare', namespace: 'team1', snapshotter: 'acme', key: 'team1/1/k1' },
      { method: 'Stat', namespace: 'team1', snapshotter: 'acme', key: 'team1/1/k1' },
      { method: 'Stat', namespace: 'team1', snapshotter: 'acme', key: 'team1/1/k1' },
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
