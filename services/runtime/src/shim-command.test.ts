import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CanceledError, DeadlineExceededError, UnavailableError } from '@flotilla/errdefs';
import { runShimCommand, shimCommand } from './shim-command.js';

let dir: string;
let fake: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shim-command-'));
  fake = join(dir, 'containerd-shim-fake-v2');
  // Reports what it was given: arguments, directory, environment, stdin; then fails if told to.
  writeFileSync(fake, `#!/bin/sh
echo "args=$*"
echo "cwd=$(pwd)"
echo "env=$GOMAXPROCS $MAX_SHIM_VERSION $TTRPC_ADDRESS $GRPC_ADDRESS $NAMESPACE $EXTRA"
echo "stdin=$(cat | od -An -tx1 | tr -d ' \\n')"
echo "pgid-is-pid=$( [ "$(ps -o pgid= $$ | tr -d ' ')" = "$$" ] && echo yes || echo no)"
case "$*" in *sleep*) sleep 10;; *fail*) echo oops >&2; exit 3;; *orphan*) setsid sleep 1000 & echo $! > orphan.pid; sleep 10;; esac
`, { mode: 0o755 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const addresses = { address: '/run/f.sock', ttrpcAddress: '/run/f.sock.ttrpc', publishBinary: '/usr/bin/flotilla' };

describe('shim commands', () => {
  it('runs the binary as containerd does: arguments, bundle directory, environment, options on stdin, own group', async () => {
    const cmd = shimCommand({ runtime: fake, namespace: 'ns1', addresses, args: ['-id', 'c1', 'start'], cwd: dir, env: ['EXTRA=x=y'] });
    expect(cmd.args).toEqual(['-namespace', 'ns1', '-address', '/run/f.sock', '-publish-binary', '/usr/bin/flotilla', '-id', 'c1', 'start']);
    const r = await runShimCommand(cmd, { stdin: new Uint8Array([1, 2, 255]), timeoutMs: 5000 });
    expect(r.code).toBe(0);
    expect(r.stdout.toString().split('\n')).toEqual([
      'args=-namespace ns1 -address /run/f.sock -publish-binary /usr/bin/flotilla -id c1 start',
      `cwd=${dir}`,
      'env=2 2 /run/f.sock.ttrpc /run/f.sock ns1 x=y',
      'stdin=0102ff',
      'pgid-is-pid=yes',
      '',
    ]);
  });

  it('returns a failure with its output, and stops a command that overruns', async () => {
    const failing = await runShimCommand(shimCommand({ runtime: fake, namespace: 'n', addresses, args: ['fail'], cwd: dir }), { timeoutMs: 5000 });
    expect(failing.code).toBe(3);
    expect(failing.stderr.toString()).toBe('oops\n');
    await expect(runShimCommand(shimCommand({ runtime: fake, namespace: 'n', addresses, args: ['sleep'], cwd: dir }), { timeoutMs: 200 }))
      .rejects.toBeInstanceOf(DeadlineExceededError);
    const ac = new AbortController();
    const p = runShimCommand(shimCommand({ runtime: fake, namespace: 'n', addresses, args: ['sleep'], cwd: dir }), { timeoutMs: 5000, signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(CanceledError);
    await expect(runShimCommand(shimCommand({ runtime: join(dir, 'missing'), namespace: 'n', addresses, args: [], cwd: dir }), { timeoutMs: 1000 }))
      .rejects.toBeInstanceOf(UnavailableError);
  });

  it('stops at the deadline even when a process outside its group keeps its output open', async () => {
    await expect(runShimCommand(shimCommand({ runtime: fake, namespace: 'n', addresses, args: ['orphan'], cwd: dir }), { timeoutMs: 1000 }))
      .rejects.toBeInstanceOf(DeadlineExceededError);
    process.kill(Number(readFileSync(join(dir, 'orphan.pid'), 'utf8')), 'SIGKILL');
  });
});
