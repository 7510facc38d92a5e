import { chmod, mkdir, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { AlreadyExistsError } from '@flotilla/errdefs';
import type { RpcServer } from './h2-server.js';

/** True when something accepts connections on the socket path. */
function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/**
 * Listen on a Unix socket, mode 0660 like containerd's. A stale socket file left by a crashed process is
 * removed; a live one is never stolen.
 */
export async function listenUnix(server: RpcServer, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o711 });
  if (await socketInUse(path)) throw new AlreadyExistsError(`address ${path} is in use by another process`);
  await rm(path, { force: true });
  await server.listen(path);
  await chmod(path, 0o660);
}
