/**
 * Run benchmark (issue 5): the same loop of `ctr run --rm fixtures/busybox:latest idN true`, 20 times
 * (BENCH_RUN_COUNT), against Debian's containerd and against Flotilla's gateway, same client (ctr), fresh
 * state, alternating daemons run by run; prints the median and p90 milliseconds per run and the ratio.
 * Then starts 20 `sleep` containers on each and prints the memory each system adds per running container:
 * the daemon's processes (containerd; Flotilla's gateway and plugin processes) plus the shims, as RSS and
 * PSS summed from /proc. Targets: run latency ratio <= 1.0; memory per container at most containerd's
 * plus 2 MiB.
 *
 * Run from the repo root as root: `pnpm exec tsx bench/run.ts`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { ensureFixtures, REGISTRY, startContainerd, startFlotilla, type Containerd, type Flotilla } from '@flotilla/test/support';

const COUNT = Number(process.env['BENCH_RUN_COUNT'] ?? 20);
const IMAGE = `${REGISTRY}/fixtures/busybox:latest`;

type Daemon = Containerd | Flotilla;

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

async function must(d: Daemon, args: string[]): Promise<void> {
  const r = await d.ctr(args);
  if (r.code !== 0) throw new Error(`ctr ${args.join(' ')}: ${r.stderr}`);
}

/** Pids of the daemon's own processes and of every shim started for it (their command line names its socket). */
function processesOf(d: Daemon, own: number[]): number[] {
  const pids = new Set(own);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmd = '';
    try { cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8'); } catch { continue; }
    if (cmd.includes('containerd-shim') && cmd.includes(d.address)) pids.add(Number(entry));
  }
  return [...pids];
}

function memoryKiB(pids: number[]): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      rss += Number(/^Rss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      pss += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
    } catch { /* gone */ }
  }
  return { rss, pss };
}

async function ownPids(name: string, d: Daemon): Promise<number[]> {
  if (name === 'containerd') return [(d as Containerd).process.pid!];
  const f = d as Flotilla;
  const plugins = await f.plugins();
  return [f.daemon.pid!, ...plugins.filter((p) => p.type === 'io.flotilla.process.v1').map((p) => Number(p.exports['pid']))];
}

async function main(): Promise<void> {
  await ensureFixtures();
  const [c, f] = await Promise.all([startContainerd(), startFlotilla({ logLevel: 'warn' })]);
  const daemons: [string, Daemon][] = [['containerd', c], ['flotilla', f]];
  try {
    for (const [, d] of daemons) await must(d, ['images', 'pull', '--plain-http', IMAGE]);
    // One untimed run each: the first start pays for loading the shim binary and runc into the page cache.
    for (const [, d] of daemons) await must(d, ['run', '--rm', IMAGE, 'warm', 'true']);

    const times: Record<string, number[]> = { containerd: [], flotilla: [] };
    for (let i = 0; i < COUNT; i++) {
      const order = i % 2 === 0 ? daemons : [...daemons].reverse();
      for (const [name, d] of order) {
        const t = performance.now();
        await must(d, ['run', '--rm', IMAGE, `id${i}`, 'true']);
        times[name]!.push(performance.now() - t);
      }
    }

    const memory: Record<string, { rss: number; pss: number }> = {};
    for (const [name, d] of daemons) {
      const own = await ownPids(name, d);
      await new Promise((r) => setTimeout(r, 1000));
      const before = memoryKiB(processesOf(d, own));
      for (let i = 0; i < COUNT; i++) await must(d, ['run', '-d', IMAGE, `sleep${i}`, 'sleep', '1000']);
      await new Promise((r) => setTimeout(r, 2000));
      const after = memoryKiB(processesOf(d, own));
      memory[name] = { rss: (after.rss - before.rss) / COUNT / 1024, pss: (after.pss - before.pss) / COUNT / 1024 };
      for (let i = 0; i < COUNT; i++) {
        await d.ctr(['task', 'kill', '-s', 'SIGKILL', `sleep${i}`]);
        await d.ctr(['task', 'rm', '-f', `sleep${i}`]);
        await d.ctr(['containers', 'rm', `sleep${i}`]);
      }
    }

    console.log(`ctr run --rm ${IMAGE} idN true, ${COUNT} runs each (ms)`);
    console.log('daemon       median      p90');
    for (const [name] of daemons) {
      console.log(`${name.padEnd(10)} ${quantile(times[name]!, 0.5).toFixed(0).padStart(8)} ${quantile(times[name]!, 0.9).toFixed(0).padStart(8)}`);
    }
    const ratio = quantile(times['flotilla']!, 0.5) / quantile(times['containerd']!, 0.5);
    console.log(`run latency ratio flotilla/containerd = ${ratio.toFixed(2)} (target <= 1.0): ${ratio <= 1 ? 'PASS' : 'FAIL'}`);
    console.log(`\nmemory added per running container (${COUNT} sleep containers; daemon processes plus shims, MiB)`);
    for (const [name] of daemons) console.log(`${name.padEnd(10)} RSS ${memory[name]!.rss.toFixed(2).padStart(6)}  PSS ${memory[name]!.pss.toFixed(2).padStart(6)}`);
    const extra = memory['flotilla']!.rss - memory['containerd']!.rss;
    console.log(`flotilla - containerd = ${extra.toFixed(2)} MiB RSS per container (target <= 2): ${extra <= 2 ? 'PASS' : 'FAIL'}`);
    console.log(`BENCH_JSON ${JSON.stringify({ times, memory })}`);
  } finally {
    await Promise.all([c.stop(), f.stop()]);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
