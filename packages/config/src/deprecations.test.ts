import { describe, expect, it } from 'vitest';
import { createDeprecationLog, DeprecationId, deprecationMessages } from './deprecations.js';

describe('deprecation log', () => {
  it('keeps one entry per ID with its last occurrence', () => {
    const log = createDeprecationLog();
    log.emit(DeprecationId.CRIRegistryMirrors, new Date(1000));
    log.emit(DeprecationId.CRIRegistryAuths, new Date(2000));
    log.emit(DeprecationId.CRIRegistryMirrors, new Date(3000));
    expect(log.list()).toEqual([
      { id: DeprecationId.CRIRegistryMirrors, message: deprecationMessages[DeprecationId.CRIRegistryMirrors], lastOccurrence: new Date(3000) },
      { id: DeprecationId.CRIRegistryAuths, message: deprecationMessages[DeprecationId.CRIRegistryAuths], lastOccurrence: new Date(2000) },
    ]);
  });

  it('uses containerd\'s IDs for containerd\'s deprecations', () => {
    for (const id of Object.values(DeprecationId)) {
      expect(id).toMatch(/^io\.(containerd|flotilla)\.deprecation\/[a-z0-9-]+$/);
      expect(deprecationMessages[id]).toBeTruthy();
    }
  });
});
