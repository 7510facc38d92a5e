import { InvalidArgumentError } from '@flotilla/errdefs';
import { parseDuration } from '@flotilla/config';
import { PluginType, isServiceName } from '@flotilla/plugin';

/** The gateway's own settings, read from the config file's plugin sections. */

/**
 * `[plugins."io.flotilla.process.v1"]`: how the gateway runs its plugin processes.
 * initial_backoff / max_backoff bound the restart delay; start_timeout is how long a fresh process has to
 * answer health; `external.<name> = "SOCKET"` attaches to a process run elsewhere (a debugger, a
 * container) instead of starting one.
 */
export function supervisorOptions(section: unknown): {
  options: { initialBackoffMs?: number; maxBackoffMs?: number; startTimeoutMs?: number };
  external: Record<string, string>;
} {
  if (typeof section !== 'object' || section === null) return { options: {}, external: {} };
  const s = section as Record<string, unknown>;
  const key = (k: string) => `plugins."${PluginType.Process}".${k}`;
  const duration = (k: string) => parseDuration(s[k] as string, key(k));
  const external: Record<string, string> = {};
  if (typeof s['external'] === 'object' && s['external'] !== null) {
    for (const [name, sock] of Object.entries(s['external'])) {
      if (typeof sock !== 'string' || !isServiceName(name)) throw new InvalidArgumentError(`${key('external')}.${name}: expected a known service and a socket path`);
      external[name] = sock;
    }
  }
  return {
    options: {
      ...(s['initial_backoff'] !== undefined ? { initialBackoffMs: duration('initial_backoff') } : {}),
      ...(s['max_backoff'] !== undefined ? { maxBackoffMs: duration('max_backoff') } : {}),
      ...(s['start_timeout'] !== undefined ? { startTimeoutMs: duration('start_timeout') } : {}),
    },
    external,
  };
}

/**
 * `[plugins."io.containerd.gc.v1.scheduler"]`: `schedule_delay` (containerd's: how long after a deletion a
 * collection starts, so a burst of deletions is collected once; default 100ms here) and `interval`
 * (Flotilla's: collect on this period as well; default 5m, "0" to collect only after deletions).
 */
export function gcOptions(section: unknown): { delayMs: number; intervalMs: number } {
  const s = (typeof section === 'object' && section !== null ? section : {}) as Record<string, string>;
  const at = (k: string) => `plugins."${PluginType.GC}.scheduler".${k}`;
  return {
    delayMs: s['schedule_delay'] !== undefined ? parseDuration(s['schedule_delay'], at('schedule_delay')) : 100,
    intervalMs: s['interval'] !== undefined ? parseDuration(s['interval'], at('interval')) : 5 * 60_000,
  };
}

/**
 * containerd's `content_sharing_policy` ("shared" or "isolated"), read from the metadata plugin's section;
 * containerd's own name for that plugin (bolt) is accepted so existing configs keep their meaning.
 */
export function contentSharingPolicy(plugins: Readonly<Record<string, unknown>>): 'shared' | 'isolated' {
  for (const id of ['sqlite', 'bolt']) {
    const section = plugins[`${PluginType.Metadata}.${id}`] as Record<string, unknown> | undefined;
    const policy = section?.['content_sharing_policy'];
    if (policy === undefined) continue;
    if (policy !== 'shared' && policy !== 'isolated') {
      throw new InvalidArgumentError(`plugins."${PluginType.Metadata}.${id}".content_sharing_policy: expected "shared" or "isolated", got ${JSON.stringify(policy)}`);
    }
    return policy;
  }
  return 'shared';
}
