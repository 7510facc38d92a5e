/**
 * The plugin processes Flotilla ships; `flotilla service <name>` runs one and the gateway supervises one
 * of each (less those disabled in config).
 */
export const serviceNames = [
  'content',
  'snapshotter-overlay',
  'snapshotter-blockfile',
  'runtime',
  'sandbox',
  'transfer',
  'nri',
] as const;

export type ServiceName = (typeof serviceNames)[number];

export function isServiceName(s: string): s is ServiceName {
  return (serviceNames as readonly string[]).includes(s);
}
