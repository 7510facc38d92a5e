import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Metadata } from 'nice-grpc';
import { Tasks } from '@flotilla/proto/containerd/services/tasks/v1/tasks_pb';
import { clientOf } from '@flotilla/rpc/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureFixtures, REGISTRY } from './support/fixtures.js';
import { startFlotilla, type Flotilla } from './support/flotilla.js';
import { run, waitFor, type ExecResult } from './support/exec.js';
import { crunBinary } from './support/oci-spec.js';

// Issue 5's acceptance for the runtime process: the real ctr runs containers through the gateway, on
// images pulled from the fixtures registry, with Debian's containerd-shim-runc-v2 and runc (or crun).

const IMAGE = `${REGISTRY}/fixtures/busybox:latest`;
// A namespace of this run's own: shims are matched by it, and nothing of another test is touched.
const NS = `rt${process.pid}`;

let f: Flotilla;
let dir: string;

const ctr = (args: readonly string[]): Promise<ExecResult> => f.ctr(args, { namespace: NS });
const ok = async (args: readonly string[]): Promise<ExecResult> => {
  const r = await ctr(args);
  expect(r.code, `ctr ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
};

/** `ctr task ls` as id → status. */
async function taskStates(): Promise<Record<string, string>> {
  const out = (await ok(['task', 'ls'])).stdout.trim().split('\n').slice(1);
  return Object.fromEntries(out.filter((l) => l.trim() !== '').map((l) => { const [id, , status] = l.trim().split(/\s+/); return [id ?? '', status ?? '']; }));
}

async function shimOf(id: string): Promise<number | undefined> {
  const r = await run('pgrep', ['-f', `containerd-shim-runc-v2 -namespace ${NS} -id ${id} `]);
  const pid = Number(r.stdout.trim().split('\n')[0]);
  return pid > 0 ? pid : undefined;
}

const stateDir = () => join(f.state, 'io.containerd.runtime.v2.task', NS);

/** Nothing of a task is left: its shim, its rootfs mount, its bundle and work directory. */
async function expectGone(id: string): Promise<void> {
  await waitFor(async () => (await shimOf(id)) === undefined, `the shim of ${id} to exit`, 10_000);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`/${NS}/${id}/rootfs`));
  expect(mounts).toEqual([]);
  expect(existsSync(join(stateDir(), id))).toBe(false);
  expect(existsSync(join(f.root, 'io.containerd.runtime.v2.task', NS, id))).toBe(false);
}

/** Kill, delete and remove a container, whatever state a failed test left it in. */
async function scrap(id: string): Promise<void> {
  await ctr(['task', 'kill', '-s', 'SIGKILL', id]);
  await waitFor(async () => (await taskStates())[id] !== 'RUNNING', `${id} to stop`, 10_000).catch(() => undefined);
  await ctr(['task', 'rm', '-f', id]);
  await ctr(['containers', 'rm', id]);
}

/** Run a command under a pseudo-terminal (util-linux script), as a user at a terminal would. */
function underTerminal(command: string, input: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => { clearTimeout(timer); resolve({ code: code ?? 1, stdout, stderr }); });
    // Typed a little after the shell is up, as a person would.
    setTimeout(() => child.stdin.write(input), 1000);
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'runtime-test-'));
  await ensureFixtures();
  f = await startFlotilla();
  const pull = await ctr(['images', 'pull', '--plain-http', IMAGE]);
  expect(pull.code, pull.stderr).toBe(0);
}, 900_000);

afterAll(async () => {
  // Whatever a failed test left running goes before the daemon, so no shim outlives the test.
  const left = (await ctr(['containers', 'ls', '-q']).catch(() => undefined))?.stdout.split('\n').filter((l) => l !== '') ?? [];
  for (const id of left) await scrap(id);
  await f?.stop();
  rmSync(dir, { recursive: true, force: true });
  try {
    rmdirSync(`/run/containerd/runc/${NS}`); // runc's state root for the namespace, empty by now
  } catch {
    // never made, or not empty: the leak checks say which
  }
}, 120_000);

describe('ctr run through the gateway', () => {
  it('runs a container to completion and prints its output', async () => {
    const r = await ok(['run', '--rm', IMAGE, 't1', 'echo', 'hello']);
    expect(r.stdout).toBe('hello\n');
    await expectGone('t1');
    expect((await ok(['containers', 'ls', '-q'])).stdout).not.toMatch(/^t1$/m);
  });

  it('exits with the container\'s exit status', async () => {
    const r = await ctr(['run', '--rm', IMAGE, 't2', 'sh', '-c', 'exit 3']);
    expect(r.code).toBe(3);
    await expectGone('t2');
  });

  it('gives a container a working terminal with -t', async () => {
    // script's terminal has no size until given one; ctr hands it to the container (ResizePty).
    const r = await underTerminal(
      `stty rows 33 cols 111; ctr -a ${f.address} -n ${NS} run --rm -t ${IMAGE} t3 sh`,
      'tty; stty size; echo "term-$((40+2))"; exit\n',
    );
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+/);
    expect(r.stdout).toMatch(/^33 111\r?$/m);
    expect(r.stdout).toContain('term-42'); // what was typed ran in the container's shell
    await expectGone('t3');
  });

  it('manages a detached container: ls, exec, ps, pause and resume, metrics, kill, rm', async () => {
    await ok(['run', '-d', IMAGE, 't4', 'sleep', '1000']);
    expect((await taskStates())['t4']).toBe('RUNNING');

    const exec = await ok(['task', 'exec', '--exec-id', 'e1', 't4', 'sh', '-c', 'echo exec-ok; cat /proc/1/cmdline']);
    expect(exec.stdout).toBe('exec-ok\nsleep\u00001000\u0000');

    const ps = (await ok(['task', 'ps', 't4'])).stdout.trim().split('\n');
    expect(ps[0]).toMatch(/^PID\s+INFO/);
    expect(ps.length).toBeGreaterThanOrEqual(2);

    await ok(['task', 'pause', 't4']);
    expect((await taskStates())['t4']).toBe('PAUSED');
    await ok(['task', 'resume', 't4']);
    expect((await taskStates())['t4']).toBe('RUNNING');

    const metrics = (await ok(['task', 'metrics', 't4'])).stdout;
    expect(metrics).toMatch(/^ID\s+TIMESTAMP/m);
    // Real cgroup numbers: a memory usage above zero and a pid count of at least the sleep.
    const memory = /memory\.usage_in_bytes\s+(\d+)|memory\.usage\s+(\d+)/.exec(metrics);
    expect(Number(memory?.[1] ?? memory?.[2] ?? 0)).toBeGreaterThan(0);
    expect(Number(/pids\.current\s+(\d+)/.exec(metrics)?.[1] ?? 0)).toBeGreaterThanOrEqual(1);

    await ok(['task', 'kill', '-s', 'SIGKILL', 't4']);
    await waitFor(async () => (await taskStates())['t4'] === 'STOPPED', 't4 to stop', 10_000);
    const rm = await ok(['task', 'rm', 't4']);
    expect(rm.stderr).toMatch(/task t4 exit with non-zero exit code 137/); // ctr reports the task's status
    await ok(['containers', 'rm', 't4']);
    await expectGone('t4');
    expect((await ok(['containers', 'ls', '-q'])).stdout).not.toMatch(/^t4$/m);
  });

  it('ctr events shows the task events in order', async () => {
    const events = spawn('ctr', ['-a', f.address, 'events'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    events.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    await sleep(500); // subscribed
    await ok(['run', '--rm', IMAGE, 't5', 'true']);
    await waitFor(() => /\/containers\/delete.*t5/.test(out), 'the container delete event', 10_000);
    events.kill('SIGTERM');
    // ctr prints `<timestamp> <namespace> <topic> <event as JSON>`.
    const topic = new RegExp(` ${NS} (/\\S+) `);
    const topics = out.split('\n').filter((l) => l.includes('"t5"')).map((l) => topic.exec(l)?.[1]).filter((t) => t !== undefined);
    expect(topics.filter((t) => t.startsWith('/tasks/'))).toEqual(['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
    // The task's events fall between the container's own.
    expect(topics.indexOf('/containers/create')).toBeLessThan(topics.indexOf('/tasks/create'));
    expect(topics.indexOf('/tasks/delete')).toBeLessThan(topics.indexOf('/containers/delete'));
    await expectGone('t5');
  });

  it('runs a container with crun chosen by --runc-binary', async () => {
    const r = await ok(['run', '--rm', '--runc-binary', crunBinary(dir), IMAGE, 'c1', 'echo', 'via-crun']);
    expect(r.stdout).toBe('via-crun\n');
    await expectGone('c1');
  });
});

describe('recovery', () => {
  it('after the runtime process is SIGKILLed, running containers are listed, exec\'d into, killed and deleted', async () => {
    await ok(['run', '-d', IMAGE, 'r1', 'sleep', '1000']);
    const before = await f.processPid('runtime');
    process.kill(before, 'SIGKILL');
    await waitFor(async () => (await f.processPid('runtime').catch(() => before)) !== before, 'the runtime process to restart', 30_000);
    await f.allReady();
    expect((await taskStates())['r1']).toBe('RUNNING');
    expect((await ok(['task', 'exec', '--exec-id', 'after', 'r1', 'echo', 'still-here'])).stdout).toBe('still-here\n');
    await ok(['task', 'kill', '-s', 'SIGKILL', 'r1']);
    await waitFor(async () => (await taskStates())['r1'] === 'STOPPED', 'r1 to stop', 10_000);
    await ctr(['task', 'rm', 'r1']);
    await ok(['containers', 'rm', 'r1']);
    await expectGone('r1');
  });

  it('after the gateway is SIGKILLed, running containers are back and an exit while it was down is reported', async () => {
    await ok(['run', '-d', IMAGE, 'g1', 'sleep', '1000']);
    await ok(['run', '-d', IMAGE, 'g2', 'sh', '-c', 'sleep 2; exit 7']);
    f.daemon.kill('SIGKILL');
    await new Promise<void>((r) => f.daemon.once('exit', () => r()));
    await sleep(3500); // g2 exits while nothing listens
    await f.restart();
    const states = await taskStates();
    expect(states['g1']).toBe('RUNNING');
    expect(states['g2']).toBe('STOPPED');
    expect((await ok(['task', 'exec', '--exec-id', 'x1', 'g1', 'echo', 'exec-after-restart'])).stdout).toBe('exec-after-restart\n');
    const rm = await ok(['task', 'rm', 'g2']);
    expect(rm.stderr).toMatch(/task g2 exit with non-zero exit code 7/);
    await ok(['containers', 'rm', 'g2']);
    await expectGone('g2');
    await ok(['task', 'kill', '-s', 'SIGKILL', 'g1']);
    await waitFor(async () => (await taskStates())['g1'] === 'STOPPED', 'g1 to stop', 10_000);
    await ctr(['task', 'rm', 'g1']);
    await ok(['containers', 'rm', 'g1']);
    await expectGone('g1');
  }, 120_000);

  it('a shim that died while the gateway was down is cleaned up; its container can be removed', async () => {
    await ok(['run', '-d', IMAGE, 'd1', 'sleep', '1000']);
    // ctr made d1's stdio FIFOs and would remove them at `task rm`; with the task gone that never comes.
    const { process: d1 } = await clientOf(Tasks, f.channel).get({ containerId: 'd1' }, { metadata: Metadata({ 'containerd-namespace': NS }) });
    const fifos = d1?.stdout ? dirname(d1.stdout) : undefined;
    expect(fifos).toMatch(/^\/run\/containerd\/fifo\//);
    const shim = await shimOf('d1');
    expect(shim).toBeGreaterThan(0);
    f.daemon.kill('SIGKILL');
    await new Promise<void>((r) => f.daemon.once('exit', () => r()));
    process.kill(shim!, 'SIGKILL');
    await f.restart();
    await waitFor(async () => !Object.hasOwn(await taskStates(), 'd1'), 'the dead task to be gone', 10_000);
    await expectGone('d1');
    await ok(['containers', 'rm', 'd1']);
    // runc's container went with its shim.
    expect((await run('runc', ['--root', `/run/containerd/runc/${NS}`, 'list', '-q'])).stdout).not.toMatch(/^d1$/m);
    if (fifos) rmSync(fifos, { recursive: true, force: true });
  }, 120_000);

  it('leaves no bundle directory behind', async () => {
    expect(existsSync(stateDir()) ? readdirSync(stateDir()) : []).toEqual([]);
  });
});
