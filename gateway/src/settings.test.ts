import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { defaultDocument } from '@flotilla/config';
import { contentSharingPolicy, gcOptions, supervisorOptions } from './settings.js';

describe('gateway settings', () => {
  it('reads supervision and attached processes', () => {
    expect(supervisorOptions(undefined)).toEqual({ options: {}, external: {} });
    expect(supervisorOptions({ initial_backoff: '250ms', max_backoff: '1m', external: { content: '/run/c.sock' } })).toEqual({
      options: { initialBackoffMs: 250, maxBackoffMs: 60_000 },
      external: { content: '/run/c.sock' },
    });
    expect(() => supervisorOptions({ external: { nosuch: '/x.sock' } })).toThrow(InvalidArgumentError);
    expect(() => supervisorOptions({ start_timeout: 'soon' })).toThrow(InvalidArgumentError);
  });

  it('reads the collector schedule with its defaults', () => {
    expect(gcOptions(undefined)).toEqual({ delayMs: 100, intervalMs: 300_000 });
    expect(gcOptions({ schedule_delay: '0', interval: '0' })).toEqual({ delayMs: 0, intervalMs: 0 });
  });

  it('takes the content sharing policy from containerd\'s section or ours', () => {
    expect(contentSharingPolicy({})).toBe('shared');
    expect(contentSharingPolicy({ 'io.containerd.metadata.v1.bolt': { content_sharing_policy: 'isolated' } })).toBe('isolated');
    expect(contentSharingPolicy({ 'io.containerd.metadata.v1.sqlite': { content_sharing_policy: 'isolated' } })).toBe('isolated');
    expect(() => contentSharingPolicy({ 'io.containerd.metadata.v1.bolt': { content_sharing_policy: 'open' } })).toThrow(InvalidArgumentError);
  });

  it('runs with the defaults `flotilla config default` prints', () => {
    const plugins = defaultDocument()['plugins'] as Record<string, unknown>;
    expect(gcOptions(plugins['io.containerd.gc.v1.scheduler'])).toEqual(gcOptions(undefined));
    expect(contentSharingPolicy(plugins)).toBe(contentSharingPolicy({}));
    // The supervisor's own defaults (processes/supervisor.ts).
    expect(supervisorOptions(plugins['io.flotilla.process.v1'])).toEqual({
      options: { initialBackoffMs: 100, maxBackoffMs: 10_000, startTimeoutMs: 15_000 },
      external: {},
    });
  });
});
