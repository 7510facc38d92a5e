import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { create, fromBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { Metadata, type Channel } from 'nice-grpc';
import {
  AlreadyExistsError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
} from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import { clientOf, dialUnix, type ServiceClient } from '@flotilla/rpc/client';
import type { ShapeOf } from '@flotilla/rpc';
import { Health } from '@flotilla/proto/grpc/health/v1/health_pb';
import { Tasks } from '@flotilla/proto/containerd/services/tasks/v1/tasks_pb';
import { Status } from '@flotilla/proto/containerd/types/task/task_pb';
import { TaskExitSchema } from '@flotilla/proto/containerd/events/task_pb';
import { ProcessDetailsSchema } from '@flotilla/proto/containerd/runc/v1/options_pb';
import { flotillaBin, run, waitFor } from './support/index.js';
import { startFakeGateway, type FakeGateway } from './support/fake-gateway.js';
import { busyboxRootfs, crunBinary, ociSpec } from './support/oci-spec.js';

// The runtime process on its own, against Debian's containerd-shim-runc-v2 and runc: a fake gateway
// supplies the container records and records the events the runtime forwards.

const log = createLogger({ service: 'test', level: 'silent' });
const NS = `rtproc${process.pid}`;
const md = Metadata({ 'containerd-namespace': NS });

let dir: string;
let rootfs: string;
let gw: FakeGateway;
let runtime: ChildProcess | undefined;
let channel: Channel;
let tasks: ServiceClient<ShapeOf<typeof Tasks>>;

const socket = () => join(dir, 'runtime.sock');
const stateDir = () => join(dir, 'state', 'io.containerd.runtime.v2.task');

async function startRuntime(): Promise<void> {
  const out = openSync(join(dir, 'runtime.log'), 'a');
  const child = spawn(flotillaBin, [
    'service', 'runtime', '--address', socket(), '--root', join(dir, 'root'), '--state', join(dir, 'state'),
    '--peer', `gateway=${gw.socket}`, '--log-level', 'debug',
  ], { stdio: ['ignore', out, out] });
  runtime = child;
  const health = clientOf(Health, channel);
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`runtime exited with ${child.exitCode}: ${readFileSync(join(dir, 'runtime.log'), 'utf8').slice(-3000)}`);
    return (await health.check({}, { signal: AbortSignal.timeout(1000) })).status === 1;
  }, 'the runtime process to serve', 30_000);
}

async function killRuntime(): Promise<void> {
  const child = runtime;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await gone;
}

/** Put a container in the fake gateway and create its task; stdout and stderr go to files. */
async function createTask(id: string, args: string[], o: { binaryName?: string } = {}) {
  gw.putContainer(NS, { id, spec: ociSpec({ args, cgroupsPath: `/flotilla-test/${NS}-${id}` }), binaryName: o.binaryName });
  return tasks.create({
    containerId: id,
    rootfs: [{ type: 'bind', source: rootfs, options: ['rbind', 'ro'] }],
    stdout: `file://${join(dir, `${id}.out`)}`,
    stderr: `file://${join(dir, `${id}.err`)}`,
  }, { metadata: md });
}

const output = (id: string) => (existsSync(join(dir, `${id}.out`)) ? readFileSync(join(dir, `${id}.out`), 'utf8') : '');

/** Shim processes of this test's namespace still running. */
async function shims(): Promise<string[]> {
  const r = await run('pgrep', ['-af', `containerd-shim-runc-v2 -namespace ${NS} `]);
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

/** The pid of the shim serving one task. */
async function shimPid(id: string): Promise<number> {
  const r = await run('pgrep', ['-f', `containerd-shim-runc-v2 -namespace ${NS} -id ${id} `]);
  const pid = Number(r.stdout.trim().split('\n')[0]);
  if (!(pid > 0)) throw new Error(`no shim for ${id}`);
  return pid;
}

/** The socket a task's shim serves on, from the bundle. */
function shimSocket(id: string): string {
  const params = JSON.parse(readFileSync(join(stateDir(), NS, id, 'bootstrap.json'), 'utf8')) as { address: string };
  return params.address.replace(/^unix:\/\//, '');
}

const mounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(dir));
const bundles = () => (existsSync(join(stateDir(), NS)) ? readdirSync(join(stateDir(), NS)) : []);
const exits = (id: string) => gw.events
  .filter((e) => e.namespace === NS && e.topic === '/tasks/exit' && e.event)
  .map((e) => fromBinary(TaskExitSchema, e.event!.value))
  .filter((x) => x.containerId === id && x.id === id);
const topicsOf = (id: string) => gw.events
  .filter((e) => e.namespace === NS && e.topic.startsWith('/tasks/') && e.event && Buffer.from(e.event.value).includes(Buffer.from(id)))
  .map((e) => e.topic);

/** Nothing of a deleted task is left: no shim, no mount, no bundle or work directory, no shim socket. */
async function expectNoLeaks(id: string): Promise<void> {
  await waitFor(async () => !(await shims()).some((l) => l.includes(` -id ${id} `)), `no shim left for ${id}`, 10_000);
  expect(mounts().filter((l) => l.includes(`/${NS}/${id}/`))).toEqual([]);
  expect(bundles()).not.toContain(id);
  expect(existsSync(join(dir, 'root', 'io.containerd.runtime.v2.task', NS, id))).toBe(false);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rtproc-'));
  rootfs = busyboxRootfs(dir);
  gw = await startFakeGateway(join(dir, 'gw.sock'), log);
  channel = dialUnix(socket());
  tasks = clientOf(Tasks, channel);
  await startRuntime();
});

afterAll(async () => {
  // Whatever a failed test left running.
  for (const line of await shims()) {
    const pid = Number(line.split(' ')[0]);
    if (pid > 0) process.kill(pid, 'SIGKILL');
  }
  await killRuntime();
  channel?.close();
  await gw?.close();
  await run('sh', ['-c', `grep ' ${dir}' /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l`]);
  // runc's state root for the namespace, empty once every container is deleted.
  try {
    rmdirSync(`/run/containerd/runc/${NS}`);
  } catch {
    // never created, or something was left in it: the leak checks above report that
  }
  if (process.env['FLOTILLA_TEST_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
});

describe('the runtime process with Debian\'s runc shim', () => {
  it('runs a task to completion: output, exit status, events in order, nothing left behind', async () => {
    const created = await createTask('hello', ['sh', '-c', 'echo hello; exit 3']);
    expect(created.pid).toBeGreaterThan(0);
    const sock = shimSocket('hello');
    expect(existsSync(sock)).toBe(true);
    const wait = tasks.wait({ containerId: 'hello' }, { metadata: md });
    await tasks.start({ containerId: 'hello' }, { metadata: md });
    expect((await wait).exitStatus).toBe(3);
    expect(output('hello')).toBe('hello\n');
    const del = await tasks.delete({ containerId: 'hello' }, { metadata: md });
    expect(del.exitStatus).toBe(3);
    expect(del.pid).toBe(created.pid);
    // The shim's /tasks/delete is forwarded before Delete answers.
    expect(topicsOf('hello')).toEqual(['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
    await expect(tasks.get({ containerId: 'hello' }, { metadata: md })).rejects.toBeInstanceOf(NotFoundError);
    await expectNoLeaks('hello');
    expect(existsSync(sock)).toBe(false);
  });

  it('refuses what containerd refuses, with the same error kinds', async () => {
    await expect(tasks.create({ containerId: 'nocontainer' }, { metadata: md })).rejects.toBeInstanceOf(NotFoundError);
    gw.putContainer(NS, { id: 'badrt', spec: ociSpec({ args: ['true'], cgroupsPath: '/x' }), runtime: 'io.containerd.nosuch.v9' });
    await expect(tasks.create({ containerId: 'badrt' }, { metadata: md })).rejects.toThrow(/failed to start shim: .*containerd-shim-nosuch-v9/);
    await expect(tasks.create({ containerId: 'badrt' }, { metadata: md })).rejects.toBeInstanceOf(NotFoundError);
    await expect(tasks.create({ containerId: 'hello', options: create(AnySchema, { typeUrl: 'x.Y', value: new Uint8Array([1]) }) }, { metadata: md }))
      .rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(tasks.checkpoint({ containerId: 'hello' }, { metadata: md })).rejects.toBeInstanceOf(NotImplementedError);
    await expect(tasks.checkpoint({ containerId: 'hello' }, { metadata: md })).rejects.toThrow(/not supported by Flotilla/);
    await expect(tasks.exec({ containerId: 'hello', execId: '' }, { metadata: md })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(tasks.list({}, {})).rejects.toThrow(/namespace is required/);
    expect(bundles()).not.toContain('badrt');
  });

  it('manages a long-running task: list, exec, ps, pause and resume, metrics, kill, delete', async () => {
    await createTask('long', ['sleep', '1000']);
    await tasks.start({ containerId: 'long' }, { metadata: md });
    await expect(createTask('long', ['sleep', '1'])).rejects.toBeInstanceOf(AlreadyExistsError);
    const listed = await tasks.list({}, { metadata: md });
    expect(listed.tasks.map((t) => [t.id, t.status])).toEqual([['long', Status.RUNNING]]);

    const spec = { args: ['sh', '-c', 'echo from-exec; exit 5'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } };
    await tasks.exec({
      containerId: 'long',
      execId: 'e1',
      // Both streams: the 1.6 shim's file:// copier crashes on an exec with only one of them.
      stdout: `file://${join(dir, 'e1.out')}`,
      stderr: `file://${join(dir, 'e1.err')}`,
      spec: create(AnySchema, { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify(spec)) }),
    }, { metadata: md });
    const execWait = tasks.wait({ containerId: 'long', execId: 'e1' }, { metadata: md });
    expect((await tasks.start({ containerId: 'long', execId: 'e1' }, { metadata: md })).pid).toBeGreaterThan(0);
    expect((await execWait).exitStatus).toBe(5);
    expect(output('e1')).toBe('from-exec\n');
    expect((await tasks.get({ containerId: 'long', execId: 'e1' }, { metadata: md })).process).toMatchObject({ id: 'e1', status: Status.STOPPED, exitStatus: 5 });
    expect((await tasks.deleteProcess({ containerId: 'long', execId: 'e1' }, { metadata: md }))).toMatchObject({ id: 'e1', exitStatus: 5 });

    const pids = await tasks.listPids({ containerId: 'long' }, { metadata: md });
    expect(pids.processes.length).toBeGreaterThanOrEqual(1);
    const init = (await tasks.get({ containerId: 'long' }, { metadata: md })).process;
    expect(pids.processes.map((p) => p.pid)).toContain(init?.pid);

    await tasks.pause({ containerId: 'long' }, { metadata: md });
    expect((await tasks.get({ containerId: 'long' }, { metadata: md })).process?.status).toBe(Status.PAUSED);
    await tasks.resume({ containerId: 'long' }, { metadata: md });
    expect((await tasks.get({ containerId: 'long' }, { metadata: md })).process?.status).toBe(Status.RUNNING);

    const metrics = await tasks.metrics({ filters: ['id==long'] }, { metadata: md });
    expect(metrics.metrics).toHaveLength(1);
    expect(metrics.metrics[0]?.data?.typeUrl).toMatch(/io\.containerd\.cgroups\.v[12]\.Metrics/);
    expect(metrics.metrics[0]?.data?.value.length).toBeGreaterThan(0);
    expect((await tasks.metrics({ filters: ['id==other'] }, { metadata: md })).metrics).toEqual([]);

    const wait = tasks.wait({ containerId: 'long' }, { metadata: md });
    await tasks.kill({ containerId: 'long', signal: 9 }, { metadata: md });
    expect((await wait).exitStatus).toBe(137);
    await tasks.delete({ containerId: 'long' }, { metadata: md });
    expect(topicsOf('long')).toEqual([
      // The shim publishes no /tasks/delete for an exec process, only for the task.
      '/tasks/create', '/tasks/start', '/tasks/exec-added', '/tasks/exec-started', '/tasks/exit',
      '/tasks/paused', '/tasks/resumed', '/tasks/exit', '/tasks/delete',
    ]);
    await expectNoLeaks('long');
  });

  it('takes running tasks back after being killed: listed, exec works, killed and deleted', async () => {
    await createTask('survivor', ['sleep', '1000']);
    await tasks.start({ containerId: 'survivor' }, { metadata: md });
    await killRuntime();
    expect(await shimPid('survivor')).toBeGreaterThan(0); // the shim outlives the runtime
    await startRuntime();
    const listed = await tasks.list({}, { metadata: md });
    expect(listed.tasks.map((t) => [t.id, t.status])).toEqual([['survivor', Status.RUNNING]]);
    const spec = { args: ['true'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } };
    await tasks.exec({
      containerId: 'survivor',
      execId: 'after',
      spec: create(AnySchema, { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify(spec)) }),
    }, { metadata: md });
    const w = tasks.wait({ containerId: 'survivor', execId: 'after' }, { metadata: md });
    await tasks.start({ containerId: 'survivor', execId: 'after' }, { metadata: md });
    expect((await w).exitStatus).toBe(0);
    const wait = tasks.wait({ containerId: 'survivor' }, { metadata: md });
    await tasks.kill({ containerId: 'survivor', signal: 9 }, { metadata: md });
    expect((await wait).exitStatus).toBe(137);
    expect((await tasks.delete({ containerId: 'survivor' }, { metadata: md })).exitStatus).toBe(137);
    await expectNoLeaks('survivor');
  });

  it('reports an exit that happened while it was down, with its status, exactly once', async () => {
    await createTask('exiter', ['sh', '-c', 'sleep 1; exit 7']);
    await tasks.start({ containerId: 'exiter' }, { metadata: md });
    await killRuntime();
    await sleep(2500); // the task exits; its shim cannot deliver the exit and keeps retrying
    await startRuntime();
    await waitFor(() => exits('exiter').length > 0, 'the exit to be published', 10_000);
    expect((await tasks.get({ containerId: 'exiter' }, { metadata: md })).process).toMatchObject({ status: Status.STOPPED, exitStatus: 7 });
    await sleep(6000); // long enough for the shim's next retry to arrive (and be dropped as a duplicate)
    expect(exits('exiter').map((e) => e.exitStatus)).toEqual([7]);
    expect((await tasks.delete({ containerId: 'exiter' }, { metadata: md })).exitStatus).toBe(7);
    await expectNoLeaks('exiter');
  }, 60_000);

  it('cleans up after a shim that died while it was down, and publishes the exit', async () => {
    await createTask('orphan', ['sleep', '1000']);
    await tasks.start({ containerId: 'orphan' }, { metadata: md });
    const pid = await shimPid('orphan');
    const sock = shimSocket('orphan');
    await killRuntime();
    process.kill(pid, 'SIGKILL');
    await startRuntime();
    await waitFor(() => topicsOf('orphan').includes('/tasks/delete'), 'the dead shim\'s exit and delete', 10_000);
    expect(exits('orphan').map((e) => e.exitStatus)).toEqual([137]);
    expect(topicsOf('orphan').slice(-2)).toEqual(['/tasks/exit', '/tasks/delete']);
    expect((await tasks.list({}, { metadata: md })).tasks).toEqual([]);
    await expectNoLeaks('orphan');
    expect(existsSync(sock)).toBe(false); // the dead shim could not remove its socket; the runtime did
    // runc's container went with it.
    expect((await run('runc', ['--root', `/run/containerd/runc/${NS}`, 'list', '-q'])).stdout.trim()).toBe('');
  });

  it('notices a shim dying under it', async () => {
    await createTask('fragile', ['sleep', '1000']);
    await tasks.start({ containerId: 'fragile' }, { metadata: md });
    const sock = shimSocket('fragile');
    process.kill(await shimPid('fragile'), 'SIGKILL');
    await waitFor(() => topicsOf('fragile').includes('/tasks/delete'), 'the dead shim\'s exit and delete', 10_000);
    expect(exits('fragile').map((e) => e.exitStatus)).toEqual([137]);
    await expect(tasks.get({ containerId: 'fragile' }, { metadata: md })).rejects.toBeInstanceOf(NotFoundError);
    await expectNoLeaks('fragile');
    expect(existsSync(sock)).toBe(false);
  });

  it('runs a container with crun when its runtime options name it', async () => {
    await createTask('crunny', ['sh', '-c', 'echo via-crun'], { binaryName: crunBinary(dir) });
    const wait = tasks.wait({ containerId: 'crunny' }, { metadata: md });
    await tasks.start({ containerId: 'crunny' }, { metadata: md });
    expect((await wait).exitStatus).toBe(0);
    expect(output('crunny')).toBe('via-crun\n');
    const bundle = join(stateDir(), NS, 'crunny');
    expect(readFileSync(join(bundle, 'options.json'), 'utf8')).toMatch(/"binary_name":\s*"[^"]*crun[^"]*"/);
    await tasks.delete({ containerId: 'crunny' }, { metadata: md });
    await expectNoLeaks('crunny');
  });

  it('ps reports the runc process details of each pid', async () => {
    await createTask('psy', ['sleep', '1000']);
    await tasks.start({ containerId: 'psy' }, { metadata: md });
    const pids = await tasks.listPids({ containerId: 'psy' }, { metadata: md });
    const info = pids.processes[0]?.info;
    if (info) expect(fromBinary(ProcessDetailsSchema, info.value).execId).toBe('');
    await tasks.kill({ containerId: 'psy', signal: 9, all: true }, { metadata: md });
    await tasks.wait({ containerId: 'psy' }, { metadata: md });
    await tasks.delete({ containerId: 'psy' }, { metadata: md });
    await expectNoLeaks('psy');
  });
});
