import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { Health, HealthCheckRequestSchema, HealthCheckResponse_ServingStatus } from '@flotilla/proto/grpc/health/v1/health_pb';
import { Version } from '@flotilla/proto/containerd/services/version/v1/version_pb';
import { Namespaces } from '@flotilla/proto/containerd/services/namespaces/v1/namespace_pb';
import { Introspection } from '@flotilla/proto/containerd/services/introspection/v1/introspection_pb';
import { Tasks } from '@flotilla/proto/containerd/services/tasks/v1/tasks_pb';
import { NotImplementedError, UnavailableError } from '@flotilla/errdefs';
import { clientOf, dialUnix } from '@flotilla/rpc/client';
import { serviceNames } from '@flotilla/plugin';
import { startFlotilla, type Flotilla } from './support/flotilla.js';
import { waitFor } from './support/exec.js';
import { Metadata } from 'nice-grpc';

let f: Flotilla;
beforeAll(async () => {
  f = await startFlotilla();
});
afterAll(async () => {
  await f?.stop();
});

const nsMeta = Metadata({ 'containerd-namespace': 'default' });

describe('the gateway, with the real ctr', () => {
  it('ctr version prints the server version', async () => {
    const r = await f.ctr(['version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Server:\s*\n\s*Version:\s+v2\.0\.0\+flotilla\.\d+\.\d+\.\d+/);
    expect(r.stdout).toMatch(/UUID: [0-9a-f-]{36}/);
  });

  it('ctr plugins ls lists every plugin process as ok', async () => {
    const r = await f.ctr(['plugins', 'ls']);
    expect(r.code).toBe(0);
    for (const name of serviceNames) {
      expect(r.stdout).toMatch(new RegExp(`^io\\.flotilla\\.process\\.v1\\s+${name}\\s+-\\s+ok\\s*$`, 'm'));
    }
    expect(r.stdout).toMatch(/^io\.containerd\.grpc\.v1\s+namespaces\s+-\s+ok\s*$/m);
  });

  it('ctr plugins ls filters by type and id', async () => {
    const r = await f.ctr(['plugins', 'ls', 'type==io.flotilla.process.v1,id==content']);
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n').slice(1);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(/content/);
  });

  it('each plugin process answers health on its own socket', async () => {
    for (const name of serviceNames) {
      const plugin = (await f.plugins()).find((p) => p.id === name && p.type === 'io.flotilla.process.v1');
      const socket = plugin?.exports['address'];
      expect(socket, name).toBeTruthy();
      const ch = dialUnix(socket!);
      try {
        const res = await clientOf(Health, ch).check(create(HealthCheckRequestSchema, {}));
        expect(res.status, name).toBe(HealthCheckResponse_ServingStatus.SERVING);
      } finally {
        ch.close();
      }
    }
  });

  it('the gateway answers health itself', async () => {
    const res = await clientOf(Health, f.channel).check(create(HealthCheckRequestSchema, {}));
    expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it('a killed plugin process shows its failure, answers Unavailable, and comes back', async () => {
    const pid = await f.processPid('runtime');
    const tasks = clientOf(Tasks, f.channel);
    // Before: the runtime process is reached (its task service lists no tasks).
    expect((await tasks.list({}, { metadata: nsMeta })).tasks).toEqual([]);

    process.kill(pid, 'SIGKILL');
    await waitFor(async () => (await f.ctr(['plugins', 'ls'])).stdout.match(/^io\.flotilla\.process\.v1\s+runtime\s+-\s+error\s*$/m), 'runtime to show error', 10_000);
    const detail = await f.ctr(['plugins', 'ls', '-d', 'id==runtime']);
    expect(detail.stdout).toMatch(/exited with signal SIGKILL/);
    await expect(tasks.list({}, { metadata: nsMeta })).rejects.toBeInstanceOf(UnavailableError);
    const viaCtr = await f.ctr(['tasks', 'ls']);
    expect(viaCtr.code).not.toBe(0);
    expect(viaCtr.stderr).toMatch(/unavailable|Unavailable/);

    // The supervisor restarts it; the plugin list and the calls recover on their own.
    await waitFor(async () => (await f.ctr(['plugins', 'ls'])).stdout.match(/^io\.flotilla\.process\.v1\s+runtime\s+-\s+ok\s*$/m), 'runtime to come back', 30_000);
    expect(await f.processPid('runtime')).not.toBe(pid);
    expect((await tasks.list({}, { metadata: nsMeta })).tasks).toEqual([]);
  });

  it('an unknown method answers Unimplemented and nothing crashes', async () => {
    const pids = await Promise.all(serviceNames.map((n) => f.processPid(n)));
    // A service nobody serves, and a method missing from a service the gateway does serve.
    const fake = {
      typeName: 'containerd.services.nothing.v1.Nothing',
      methods: [{ name: 'Nope', localName: 'nope', methodKind: 'unary', input: Version.method.version.input, output: Version.method.version.output }],
    };
    const unknownService = clientOf(fake as never, f.channel) as unknown as { nope(req: object): Promise<unknown> };
    await expect(unknownService.nope({})).rejects.toBeInstanceOf(NotImplementedError);
    const wrongMethod = { ...fake, typeName: 'containerd.services.namespaces.v1.Namespaces' };
    const unknownMethod = clientOf(wrongMethod as never, f.channel) as unknown as { nope(req: object): Promise<unknown> };
    await expect(unknownMethod.nope({})).rejects.toBeInstanceOf(NotImplementedError);
    expect((await f.ctr(['version'])).code).toBe(0);
    expect(await Promise.all(serviceNames.map((n) => f.processPid(n)))).toEqual(pids);
  });

  it('1,000 concurrent calls all succeed and leave every process alive', async () => {
    const pids = await Promise.all(serviceNames.map((n) => f.processPid(n)));
    const gatewayPid = f.daemon.pid;
    const version = clientOf(Version, f.channel);
    const namespaces = clientOf(Namespaces, f.channel);
    const introspection = clientOf(Introspection, f.channel);
    const tasks = clientOf(Tasks, f.channel);
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 1000; i++) {
      switch (i % 4) {
        case 0: calls.push(version.version({})); break;
        case 1: calls.push(namespaces.list({})); break;
        case 2: calls.push(introspection.plugins({})); break;
        // Relayed to the runtime process, which answers.
        case 3: calls.push(tasks.list({}, { metadata: nsMeta })); break;
      }
    }
    const results = await Promise.allSettled(calls);
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed).toEqual([]);
    expect(f.daemon.exitCode).toBeNull();
    expect(f.daemon.pid).toBe(gatewayPid);
    expect(await Promise.all(serviceNames.map((n) => f.processPid(n)))).toEqual(pids);
    for (const pid of pids) expect(() => process.kill(pid, 0)).not.toThrow();
  });
});
