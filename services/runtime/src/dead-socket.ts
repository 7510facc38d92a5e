import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Logger } from '@flotilla/log';
import { socketPathOf } from '@flotilla/ttrpc';
import { restoreBootstrapParams } from './bootstrap-params.js';
import type { Bundle } from './bundle.js';

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/**
 * A shim removes its socket when it shuts down; one that was killed cannot, and its binary's `delete`
 * does not either. Remove the socket of a dead shim, from its bundle's record, if nothing answers on it.
 */
export async function removeDeadSocket(bundle: Bundle, log: Logger): Promise<void> {
  let path: string;
  try {
    const params = await restoreBootstrapParams(bundle.path);
    if (params.protocol !== 'ttrpc') return;
    path = socketPathOf(params.address);
  } catch {
    return; // no record of a socket: nothing to remove
  }
  if (await answers(path)) return;
  await rm(path, { force: true }).catch((err: unknown) => log.warn({ err, path }, 'failed to remove dead shim socket'));
}
