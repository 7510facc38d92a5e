import { InvalidArgumentError } from '@flotilla/errdefs';

const SECTION = 'io.flotilla.process.v1';
const KEY = 'reclaim_idle_memory';

/**
 * `[plugins."io.flotilla.process.v1"] reclaim_idle_memory`: whether Flotilla's processes give memory back
 * when idle (default true). Read by the gateway and by every plugin process from the same file.
 */
export function reclaimIdleMemory(plugins: Readonly<Record<string, unknown>>): boolean {
  const section = plugins[SECTION];
  if (typeof section !== 'object' || section === null) return true;
  const v = (section as Record<string, unknown>)[KEY];
  if (v === undefined) return true;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(`plugins."${SECTION}".${KEY}: expected true or false, not ${JSON.stringify(v)}`);
  return v;
}
