import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '@flotilla/log';
import { reclaimMemoryWhenIdle, type IdleMemory } from './idle-memory.js';

const log = createLogger({ service: 'test', level: 'silent' });
const MiB = 1024 * 1024;

describe('reclaimMemoryWhenIdle', () => {
  let activity: number;
  let cpuUs: number;
  let rss: number;
  let calls: number;
  let idle: IdleMemory | undefined;
  const start = () => (idle = reclaimMemoryWhenIdle({
    activity: () => activity,
    cpu: () => cpuUs,
    rss: () => rss,
    reclaim: () => {
      calls++;
      const before = rss;
      rss = 40 * MiB;
      return { rssBefore: before, rssAfter: rss };
    },
    intervalMs: 1000,
    growthBytes: 4 * MiB,
    log,
  }));

  beforeEach(() => {
    vi.useFakeTimers();
    activity = 0;
    cpuUs = 0;
    rss = 60 * MiB;
    calls = 0;
  });
  afterEach(() => {
    idle?.close();
    vi.useRealTimers();
  });

  it('reclaims after the first quiet interval, then not again while nothing grows', () => {
    start();
    vi.advanceTimersByTime(1000);
    expect(calls).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(calls).toBe(1);
    expect(idle?.reclaims).toBe(1);
  });

  /** `intervals` one-second intervals, each with `reads` socket reads in it. */
  const busy = (intervals: number, reads: number) => {
    for (let i = 0; i < intervals; i++) {
      activity += reads;
      vi.advanceTimersByTime(1000);
    }
  };

  it('waits while work keeps arriving, and reclaims once it stops', () => {
    start();
    busy(5, 100);
    expect(calls).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(calls).toBe(1);
  });

  it('counts an interval with only a health check or two in it as idle, and a busy one as not', () => {
    start();
    busy(3, 500);
    expect(calls).toBe(0);
    busy(1, 2);
    expect(calls).toBe(1);
  });

  it('does not reclaim as work starts, however quiet the interval before it was', () => {
    start();
    vi.advanceTimersByTime(900);
    activity += 5; // the first calls of a pull, 100 ms before the interval ends
    vi.advanceTimersByTime(100);
    expect(calls).toBe(0);
    busy(2, 100);
    expect(calls).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(calls).toBe(1);
  });

  it('counts a process busy on the CPU as working, though nothing reaches its socket (a long call)', () => {
    start();
    for (let i = 0; i < 20; i++) {
      cpuUs += 100_000; // a tenth of each second: a layer being unpacked from a file
      rss += 8 * MiB;
      vi.advanceTimersByTime(1000);
    }
    expect(calls).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(calls).toBe(1);
  });

  it('leaves small growth alone: a polling client does not buy a collection per poll', () => {
    start();
    vi.advanceTimersByTime(1000);
    expect(calls).toBe(1);
    for (let i = 0; i < 10; i++) {
      activity++;
      rss += 256 * 1024;
      vi.advanceTimersByTime(2000);
    }
    expect(rss - 40 * MiB).toBeLessThan(4 * MiB);
    expect(calls).toBe(1);
    activity++;
    rss += 2 * MiB;
    vi.advanceTimersByTime(2000);
    expect(calls).toBe(2);
  });

  it('stops looking once closed', () => {
    start();
    idle?.close();
    vi.advanceTimersByTime(5000);
    expect(calls).toBe(0);
  });
});
