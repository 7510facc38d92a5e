import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@flotilla/log';
import { createRpcServer, listenUnix, type RpcServer } from '@flotilla/rpc';
import type { LoadedPlugin } from './loader.js';
import { pluginUri, type Registration } from './registration.js';

/** What warmUpPlugins did, by plugin URI. */
export interface WarmUpReport {
  readonly warmed: string[];
  readonly failed: { readonly plugin: string; readonly error: unknown }[];
}

export interface WarmUpOptions {
  /** A directory for the warm-ups' scratch space; emptied before and removed after. */
  readonly scratch: string;
  readonly log: Logger;
}

/**
 * Run the warm-up of every plugin that declares one and loaded: each exercises its hot paths once on
 * scratch state, before the process serves. A Node process compiles each function on its first call and
 * specializes it over its first few; without this the first image pull after a (re)start paid for that in
 * every process on its path, some 150 ms on a small image, where containerd (compiled ahead of time) pays
 * nothing. A warm-up that fails costs nothing but its time: the process serves cold, with a warning.
 */
export async function warmUpPlugins(
  registrations: readonly Registration[],
  plugins: readonly LoadedPlugin[],
  opts: WarmUpOptions,
): Promise<WarmUpReport> {
  const report: WarmUpReport = { warmed: [], failed: [] };
  const due = registrations.filter((r) => r.warmUp !== undefined && plugins.some((p) => p.type === r.type && p.id === r.id && p.instance !== undefined));
  if (due.length === 0) return report;
  await rm(opts.scratch, { recursive: true, force: true });
  try {
    for (const [i, r] of due.entries()) {
      const uri = pluginUri(r);
      const log = opts.log.child({ plugin: uri });
      // Short names: a socket path must fit in 108 bytes.
      const scratch = join(opts.scratch, String(i));
      const servers: RpcServer[] = [];
      const start = performance.now();
      try {
        await mkdir(scratch, { recursive: true, mode: 0o700 });
        await r.warmUp!({
          scratch,
          log,
          async serve(register) {
            // The scratch server's own per-call logs would only be noise.
            const server = createRpcServer(log.child({ warmUp: true }, { level: 'warn' }));
            register(server);
            const address = join(scratch, `${servers.length}.sock`);
            await listenUnix(server, address);
            servers.push(server);
            return { address };
          },
        });
        log.debug({ ms: Math.round(performance.now() - start) }, 'warmed up');
        report.warmed.push(uri);
      } catch (err) {
        log.warn({ err }, 'warm-up failed; serving without it');
        report.failed.push({ plugin: uri, error: err });
      } finally {
        for (const s of servers) s.forceShutdown();
      }
    }
  } finally {
    await rm(opts.scratch, { recursive: true, force: true }).catch((err: unknown) => {
      opts.log.warn({ err, path: opts.scratch }, 'failed to remove warm-up scratch directory');
    });
  }
  return report;
}
