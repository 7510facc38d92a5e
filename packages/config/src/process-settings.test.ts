import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { reclaimIdleMemory, warmUpProcesses } from './process-settings.js';
import { parseConfig } from './load.js';

describe.each([
  ['reclaim_idle_memory', reclaimIdleMemory],
  ['warm_up', warmUpProcesses],
] as const)('%s', (key, read) => {
  it('is on unless the process section turns it off', () => {
    expect(read({})).toBe(true);
    expect(read({ 'io.flotilla.process.v1': { initial_backoff: '1s' } })).toBe(true);
    expect(read({ 'io.flotilla.process.v1': { [key]: false } })).toBe(false);
  });

  it('reads it from a config file, and refuses a value that is not a boolean', () => {
    const off = parseConfig(`version = 3\n[plugins."io.flotilla.process.v1"]\n  ${key} = false\n`);
    expect(read(off.config.plugins)).toBe(false);
    expect(() => read({ 'io.flotilla.process.v1': { [key]: 'no' } })).toThrow(InvalidArgumentError);
  });
});
