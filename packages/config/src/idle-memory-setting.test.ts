import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { reclaimIdleMemory } from './idle-memory-setting.js';
import { parseConfig } from './load.js';

describe('reclaim_idle_memory', () => {
  it('is on unless the process section turns it off', () => {
    expect(reclaimIdleMemory({})).toBe(true);
    expect(reclaimIdleMemory({ 'io.flotilla.process.v1': { initial_backoff: '1s' } })).toBe(true);
    expect(reclaimIdleMemory({ 'io.flotilla.process.v1': { reclaim_idle_memory: false } })).toBe(false);
  });

  it('reads it from a config file, and refuses a value that is not a boolean', () => {
    const off = parseConfig('version = 3\n[plugins."io.flotilla.process.v1"]\n  reclaim_idle_memory = false\n');
    expect(reclaimIdleMemory(off.config.plugins)).toBe(false);
    expect(() => reclaimIdleMemory({ 'io.flotilla.process.v1': { reclaim_idle_memory: 'no' } })).toThrow(InvalidArgumentError);
  });
});
