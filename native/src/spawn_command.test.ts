import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand, type RunCommandOptions } from '../index.js';
import { rejection } from './test-support.js';

const sh = (script: string, env: string[] = [], options: RunCommandOptions = {}) => runCommand('/bin/sh', ['sh', '-c', script], env, options);

/** The process group of `pid`, from /proc/PID/stat (the field after ppid; comm may hold spaces). */
function pgidOf(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

/** Resolves once `path` exists (written by the command under test). */
async function until(path: string): Promise<void> {
  while (!existsSync(path)) await new Promise((r) => setTimeout(r, 10));
}

let dir: string;
beforeAll(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'flotilla-spawn-')));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('runCommand', () => {
  it('feeds stdin and collects stdout', async () => {
    const input = Buffer.from('hello\nworld\n');
    const r = await runCommand('/bin/cat', ['cat'], [], { stdin: input }).result;
    expect(r.code).toBe(0);
    expect(r.signal).toBeNull();
    expect(r.stdout).toEqual(input);
    expect(r.stderr.length).toBe(0);
    // A view into a larger buffer sends only its own bytes.
    const view = new Uint8Array([9, 1, 2, 3, 9]).subarray(1, 4);
    expect((await runCommand('/bin/cat', ['cat'], [], { stdin: view }).result).stdout).toEqual(Buffer.from([1, 2, 3]));
    // Without stdin, the command reads EOF at once.
    expect((await runCommand('/bin/cat', ['cat'], []).result).stdout.length).toBe(0);
  });

  it('reports the exit status and stderr', async () => {
    const r = await sh('echo out; echo err >&2; exit 7').result;
    expect([r.code, r.signal, r.stdout.toString(), r.stderr.toString()]).toEqual([7, null, 'out\n', 'err\n']);
  });

  it('reports the signal that ended the command', async () => {
    const r = await sh('kill -TERM $$; sleep 5').result;
    expect([r.code, r.signal]).toEqual([null, 'SIGTERM']);
  });

  it('runs in cwd with exactly the given argv and environment', async () => {
    expect((await runCommand('/bin/pwd', ['pwd'], [], { cwd: dir }).result).stdout.toString()).toBe(`${dir}\n`);
    const env = await runCommand('/usr/bin/env', ['env'], ['A=1', 'B=x=y']).result;
    expect(env.stdout.toString()).toBe('A=1\nB=x=y\n');
    const args = await runCommand('/bin/sh', ['sh', '-c', 'echo "$0|$1|$2"', 'a b', '', 'c'], []).result;
    expect(args.stdout.toString()).toBe('a b||c\n');
    const argv0 = await runCommand('/bin/cat', ['custom-argv0', '/proc/self/cmdline'], []).result;
    expect(argv0.stdout.toString()).toBe('custom-argv0\0/proc/self/cmdline\0');
  });

  it('starts the command clean: default signals, empty mask, only stdio open', async () => {
    // Node ignores SIGPIPE; the command must not inherit that. (glibc's posix_spawn leaves its two
    // internal real-time signals, 32 and 33, ignored: only the standard signals are checked.)
    const status = (await runCommand('/bin/cat', ['cat', '/proc/self/status'], []).result).stdout.toString();
    const mask = (name: string) => BigInt(`0x${new RegExp(`^${name}:\\s+([0-9a-f]+)$`, 'm').exec(status)![1]}`);
    expect(mask('SigBlk')).toBe(0n);
    expect(mask('SigIgn') & 0x7fffffffn).toBe(0n); // signals 1-31
    // ls's own directory descriptor is 3.
    const fds = await runCommand('/bin/ls', ['ls', '/proc/self/fd'], []).result;
    expect(fds.stdout.toString()).toBe('0\n1\n2\n3\n');
  });

  it('starts a new process group only when asked', async () => {
    const own = pgidOf(readFileSync('/proc/self/stat', 'utf8'));
    const grouped = runCommand('/bin/cat', ['cat', '/proc/self/stat'], [], { newProcessGroup: true });
    const r = await grouped.result;
    expect(pgidOf(r.stdout.toString())).toBe(r.pid);
    expect(grouped.pid).toBe(r.pid);
    const plain = await runCommand('/bin/cat', ['cat', '/proc/self/stat'], []).result;
    expect(pgidOf(plain.stdout.toString())).toBe(own);
  });

  it('reports the pid before the result', async () => {
    const seen: string[] = [];
    const cmd = runCommand('/bin/cat', ['cat'], [], {
      stdin: Buffer.from('x'),
      onSpawn: (pid) => seen.push(`spawn ${pid} ${cmd.pid}`),
    });
    expect(cmd.pid).toBeUndefined();
    const r = await cmd.result;
    seen.push(`result ${r.pid}`);
    expect(seen).toEqual([`spawn ${r.pid} ${r.pid}`, `result ${r.pid}`]);
  });

  it('rejects like Node for a file it cannot run or a missing cwd', async () => {
    const missing = join(dir, 'missing');
    let err = await rejection(runCommand(missing, ['x'], []).result);
    expect([err.code, err.errno, err.syscall, err.path]).toEqual(['ENOENT', -2, 'posix_spawn', missing]);
    expect(err.message).toBe(`ENOENT: no such file or directory, posix_spawn '${missing}'`);

    const plain = join(dir, 'not-executable');
    writeFileSync(plain, '#!/bin/sh\n');
    chmodSync(plain, 0o644);
    err = await rejection(runCommand(plain, ['x'], []).result);
    expect([err.code, err.syscall, err.path]).toEqual(['EACCES', 'posix_spawn', plain]);

    const noDir = join(dir, 'no-dir');
    err = await rejection(runCommand('/bin/true', ['true'], [], { cwd: noDir }).result);
    expect([err.code, err.syscall, err.path]).toEqual(['ENOENT', 'chdir', noDir]);
  });

  it('can be killed through its process group, and then settles', async () => {
    // The background sleep is a grandchild in the same group, holding stdout open.
    const ready = join(dir, 'group-ready');
    let pid = 0;
    const cmd = sh(`sleep 1000 & touch ${ready}; wait`, [], { newProcessGroup: true, onSpawn: (p) => (pid = p) });
    await until(ready);
    expect(pid).toBe(cmd.pid);
    process.kill(-pid, 'SIGKILL');
    const r = await cmd.result;
    expect([r.code, r.signal]).toEqual([null, 'SIGKILL']);
    expect(cmd.kill('SIGKILL')).toBe(false);
  });

  it('kill() works before the process exists, and does not wait for output a descendant holds', async () => {
    const early = runCommand('/bin/sleep', ['sleep', '1000'], [], { newProcessGroup: true });
    expect(early.kill('SIGKILL')).toBe(true);
    expect((await early.result).signal).toBe('SIGKILL');

    // setsid puts the sleep in a session of its own: killing the command's group leaves it running with
    // stdout open. The result must settle anyway, with the output written so far.
    const ready = join(dir, 'orphan-ready');
    const cmd = sh(`setsid sleep 1000 & echo $!; touch ${ready}; exec sleep 1000`, [], { newProcessGroup: true });
    await until(ready);
    expect(cmd.kill(9)).toBe(true);
    const r = await cmd.result;
    expect(r.signal).toBe('SIGKILL');
    const orphan = Number(r.stdout.toString().trim());
    expect(orphan).toBeGreaterThan(0);
    process.kill(orphan, 'SIGKILL');
  });

  it('moves more than a pipe buffer each way at once', async () => {
    const input = randomBytes(1 << 20);
    const r = await sh('head -c 300000 /dev/zero >&2; cat', [], { stdin: input }).result;
    expect(r.code).toBe(0);
    expect(r.stdout.equals(input)).toBe(true);
    expect(r.stderr.equals(Buffer.alloc(300000))).toBe(true);
    // A command that never reads its stdin does not hang on it.
    expect((await runCommand('/bin/true', ['true'], [], { stdin: input }).result).code).toBe(0);
  });

  it('checks its arguments', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return 'no error';
    };
    expect(code(() => runCommand(1 as unknown as string, ['x'], []))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => runCommand('/bin/true', [], []))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => runCommand('/bin/true', ['true', 2 as unknown as string], []))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => runCommand('/bin/true', ['true'], ['A=\0']))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => runCommand('/bin/true', ['true'], [], { stdin: 'x' as unknown as Uint8Array }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => runCommand('/bin/true', ['true'], [], { onSpawn: 1 as unknown as () => void }))).toBe('ERR_INVALID_ARG_TYPE');
    const cmd = runCommand('/bin/true', ['true'], []);
    expect(code(() => cmd.kill('SIGNOPE' as NodeJS.Signals))).toBe('ERR_UNKNOWN_SIGNAL');
    return cmd.result;
  });
});
