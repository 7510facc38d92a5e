/**
 * Thrown by a plugin's init when it cannot run on this host for a reason that is not a fault (no overlay
 * support, a disabled feature). The loader records the reason and goes on; containerd does the same.
 */
export class SkipPluginError extends Error {
  constructor(reason: string) {
    super(`${reason}: skip plugin`);
    this.name = 'SkipPluginError';
  }
}

export const isSkip = (err: unknown): err is SkipPluginError => err instanceof SkipPluginError;
