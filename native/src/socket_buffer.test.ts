import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setSendBuffer } from '../index.js';

const fdOf = (s: Socket): number => (s as unknown as { _handle: { fd: number } })._handle.fd;

describe('setSendBuffer', () => {
  let dir: string;
  let server: Server;
  let client: Socket;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-sndbuf-'));
    server = createServer(() => {});
    await new Promise<void>((resolve) => server.listen(join(dir, 's.sock'), resolve));
    client = connect(join(dir, 's.sock'));
    await new Promise((resolve) => client.once('connect', resolve));
  });
  afterEach(async () => {
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('enlarges a Unix socket\'s send buffer and reports what the kernel granted', () => {
    const small = setSendBuffer(fdOf(client), 64 << 10);
    const large = setSendBuffer(fdOf(client), 2 << 20);
    // The kernel doubles the request for its bookkeeping; as root nothing clamps it.
    expect(small).toBe(128 << 10);
    if (process.getuid?.() === 0) expect(large).toBe(4 << 20);
    else expect(large).toBeGreaterThanOrEqual(small);
  });

  it('fails like a syscall on a descriptor that is not a socket, and on bad arguments', () => {
    const fd = openSync(dir, 'r');
    try {
      expect(() => setSendBuffer(fd, 1 << 20)).toThrow(expect.objectContaining({ code: 'ENOTSOCK', syscall: 'setsockopt' }));
    } finally {
      closeSync(fd);
    }
    expect(() => setSendBuffer(-1, 1)).toThrow(TypeError);
    expect(() => setSendBuffer(fdOf(client), 2 ** 31)).toThrow(expect.objectContaining({ code: expect.stringMatching(/^ERR_/) }));
  });
});
