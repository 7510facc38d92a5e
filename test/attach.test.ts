import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFlotilla, flotillaBin, type Flotilla } from './support/flotilla.js';
import { waitFor } from './support/exec.js';

// An operator (or someone with a debugger) runs one service by hand; the gateway attaches to its socket
// instead of starting its own, follows its health, and never restarts it.
const dir = mkdtempSync(join(tmpdir(), 'attach-'));
const socket = join(dir, 'nri.sock');
let f: Flotilla | undefined;
let standalone: ChildProcess | undefined;

function startStandalone(): ChildProcess {
  return spawn(flotillaBin, ['service', 'nri', '--address', socket, '--root', join(dir, 'root'), '--state', join(dir, 'state')], { stdio: 'ignore' });
}

afterAll(async () => {
  standalone?.kill('SIGKILL');
  await f?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const nriStatus = async () => (await f!.ctr(['plugins', 'ls', 'id==nri'])).stdout.match(/nri\s+-\s+(\w+)/)?.[1];

describe('a plugin process run by hand', () => {
  it('is attached, followed, and left alone', async () => {
    standalone = startStandalone();
    f = await startFlotilla({ extraConfig: `  [plugins."io.flotilla.process.v1".external]\n    nri = "${socket}"\n` });
    expect(await nriStatus()).toBe('ok');
    const detail = await f.ctr(['plugins', 'ls', '-d', 'id==nri']);
    expect(detail.stdout).toContain(socket);

    standalone.kill('SIGKILL');
    await waitFor(async () => (await nriStatus()) === 'error', 'nri to show error', 15_000);
    standalone = startStandalone();
    await waitFor(async () => (await nriStatus()) === 'ok', 'nri to come back', 30_000);
    // The gateway did not start an nri of its own.
    expect(f.log()).not.toMatch(/"process":"nri".*"msg":"process started"/);
  });
});
