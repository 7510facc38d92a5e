import { InvalidArgumentError } from '@flotilla/errdefs';

const SECTION = 'io.flotilla.process.v1';

/** A boolean key of `[plugins."io.flotilla.process.v1"]`, true unless the file sets it false. */
function onUnlessOff(plugins: Readonly<Record<string, unknown>>, key: string): boolean {
  const section = plugins[SECTION];
  if (typeof section !== 'object' || section === null) return true;
  const v = (section as Record<string, unknown>)[key];
  if (v === undefined) return true;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(`plugins."${SECTION}".${key}: expected true or false, not ${JSON.stringify(v)}`);
  return v;
}

/**
 * `reclaim_idle_memory`: whether Flotilla's processes give memory back when idle (default true). Read by
 * the gateway and by every plugin process from the same file.
 */
export function reclaimIdleMemory(plugins: Readonly<Record<string, unknown>>): boolean {
  return onUnlessOff(plugins, 'reclaim_idle_memory');
}

/**
 * `warm_up`: whether each plugin process runs its plugins' warm-ups before it serves (default true), so
 * the first calls after a start do not pay for compiling their code paths.
 */
export function warmUpProcesses(plugins: Readonly<Record<string, unknown>>): boolean {
  return onUnlessOff(plugins, 'warm_up');
}
