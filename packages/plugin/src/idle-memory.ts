import type { Logger } from '@flotilla/log';

/** What one reclaim gave back: resident set size in bytes before and after. */
export interface ReclaimedMemory {
  readonly rssBefore: number;
  readonly rssAfter: number;
}

export interface IdleMemoryOptions {
  /** A count that rises with any work reaching the process (RpcServer.activity). */
  activity(): number;
  /** Give memory back (in production @flotilla/native's reclaimMemory: a memory-reducing GC and malloc_trim). */
  reclaim(): ReclaimedMemory;
  /** The process's resident set size in bytes now. Default: process.memoryUsage.rss. */
  rss?(): number;
  /** CPU time the process (every thread) has used, in µs. Default: process.cpuUsage(), user + system. */
  cpu?(): number;
  /** How long a process must have been idle, in ms. Default 2000. */
  intervalMs?: number;
  /**
   * At most this much activity in an interval still counts as idle: the gateway's liveness check (every
   * 2 s) or a client polling a status now and then must not keep a process from ever counting as idle.
   * Default 8 (socket reads; a unary call is one or two).
   */
  idleActivity?: number;
  /**
   * At most this much activity in the last quarter of the interval: more means work is starting, and a
   * collection now would stall it. Default 2.
   */
  recentActivity?: number;
  /**
   * At most this share of the interval spent on the CPU still counts as idle. A call can be long and read
   * nothing from its socket (a layer being unpacked from a file): socket reads alone would call that
   * process idle and collect over and over in the middle of its work. Default 0.05.
   */
  idleCpuShare?: number;
  /** Reclaim only once RSS is this many bytes above what the last reclaim left. Default 4 MiB. */
  growthBytes?: number;
  log: Logger;
}

export interface IdleMemory {
  /** Reclaims done so far. */
  readonly reclaims: number;
  /**
   * Reclaim now, whatever the activity: for the end of start-up (loading and warming up leave garbage),
   * before the process takes calls, so that the first idle interval does not land on the first of them.
   */
  reclaimNow(): void;
  close(): void;
}

/**
 * Give back, once a process falls quiet, the memory its busy period grew. Under load a Node process
 * keeps what it grew into (V8's young generation at its 16 MiB limit, heap pages of dead objects, glibc
 * arenas of freed buffers), and an idle one never collects it on its own: V8's memory reducer starts only
 * after a mark-compact, which Flotilla's large old-space limit makes rare. Go's scavenger, in containerd,
 * returns such memory continuously; this returns it once per busy period.
 *
 * A reclaim is a full collection on the JS thread (tens of ms, more on a busy machine), so it runs only
 * after an interval in which
 * - next to nothing reached the process (health checks and the odd poll do not count as work),
 * - nothing at all reached it in the last quarter: a pull that began a moment ago is work starting (the
 *   interval is watched in eighths; judged by one look per interval, collections landed on a pull's
 *   first calls),
 * - and the process hardly used the CPU: a long call reads nothing from its socket while it works, and a
 *   reclaim's own CPU keeps the next one an interval away;
 * and only when RSS has grown by `growthBytes` since the last one, so a client polling every few seconds
 * (the kubelet) does not buy itself a collection per poll. The first quiet interval after start-up
 * counts too, since loading the code leaves its own garbage.
 */
export function reclaimMemoryWhenIdle(opts: IdleMemoryOptions): IdleMemory {
  const rss = opts.rss ?? (() => process.memoryUsage.rss());
  const growth = opts.growthBytes ?? 4 * 1024 * 1024;
  const idleActivity = opts.idleActivity ?? 8;
  const recentActivity = opts.recentActivity ?? 2;
  const cpu = opts.cpu ?? (() => { const u = process.cpuUsage(); return u.user + u.system; });
  const intervalMs = opts.intervalMs ?? 2000;
  const idleCpu = (opts.idleCpuShare ?? 0.05) * intervalMs * 1000;
  const SLOTS = 8;
  /** Socket reads and CPU µs in each of the last SLOTS eighths of the interval, oldest first; full once one interval passed. */
  const window: { reads: number; cpu: number }[] = [];
  let seen = opts.activity();
  let seenCpu = cpu();
  let floor = 0;
  let reclaims = 0;
  const timer = setInterval(() => {
    const now = opts.activity();
    const nowCpu = cpu();
    window.push({ reads: now - seen, cpu: nowCpu - seenCpu });
    seen = now;
    seenCpu = nowCpu;
    if (window.length > SLOTS) window.shift();
    if (window.length < SLOTS) return;
    const sum = (xs: readonly { reads: number; cpu: number }[], k: 'reads' | 'cpu') => xs.reduce((a, b) => a + b[k], 0);
    const quiet = sum(window, 'reads') <= idleActivity
      && sum(window.slice(-SLOTS / 4), 'reads') <= recentActivity
      && sum(window, 'cpu') <= idleCpu;
    if (!quiet || rss() - floor < growth) return;
    reclaimNow();
  }, intervalMs / SLOTS);
  function reclaimNow(): void {
    const start = performance.now();
    const r = opts.reclaim();
    floor = r.rssAfter;
    reclaims++;
    opts.log.debug(
      { rssBefore: r.rssBefore, rssAfter: r.rssAfter, ms: Math.round(performance.now() - start) },
      'gave back idle memory',
    );
  }
  // Housekeeping never keeps a process alive.
  timer.unref();
  return {
    get reclaims() {
      return reclaims;
    },
    reclaimNow,
    close() {
      clearInterval(timer);
    },
  };
}
