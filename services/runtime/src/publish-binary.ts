import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * What shims are given as `-publish-binary`: containerd passes its own executable, which shims of the
 * first generation ran to publish events. Ours is bin/flotilla; this process runs cli/dist/main.js (the
 * gateway starts plugin processes on it), two levels below bin/. Shims of the runtime v2 generation
 * publish over TTRPC_ADDRESS and never run it, so a best effort is enough.
 */
export function defaultPublishBinary(): string {
  const main = process.argv[1];
  if (main === undefined) return process.execPath;
  const bin = resolve(dirname(main), '../../bin/flotilla');
  return existsSync(bin) ? bin : resolve(main);
}
