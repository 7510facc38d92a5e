/**
 * Pull benchmark (issue 4): the same `ctr images pull --plain-http` of fixtures/large and fixtures/layers
 * against Debian's containerd and against Flotilla's gateway, each run on a freshly started daemon with
 * empty roots, 5 runs per daemon and image, alternating daemons so machine noise hits both. Prints the
 * median seconds and the ratio (target: Flotilla <= 1.0x containerd).
 *
 * Where the time goes: one more fresh run per daemon splits the same pull in two ctr commands, `ctr content
 * fetch` (fetch from the registry and write to the content store) then `ctr images pull` (everything is
 * local by then: decompress and extract into snapshots), and prints both halves.
 *
 * Run from the repo root as root: `pnpm exec tsx bench/pull.ts`. Env: BENCH_PULL_RUNS (default 5),
 * BENCH_PULL_IMAGES (default "large,layers").
 */
import { ensureFixtures, REGISTRY, run, startContainerd, startFlotilla } from '@flotilla/test/support';

const RUNS = Number(process.env['BENCH_PULL_RUNS'] ?? 5);
const IMAGES = (process.env['BENCH_PULL_IMAGES'] ?? 'large,layers').split(',');

interface Daemon {
  ctr(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

const daemons: Record<string, () => Promise<Daemon>> = {
  containerd: () => startContainerd(),
  flotilla: () => startFlotilla({ logLevel: 'warn' }),
};

async function timed(d: Daemon, args: string[]): Promise<number> {
  const t = performance.now();
  const r = await d.ctr(args);
  if (r.code !== 0) throw new Error(`ctr ${args.join(' ')}: ${r.stderr}`);
  return (performance.now() - t) / 1000;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  await ensureFixtures();
  const results: Record<string, Record<string, { runs: number[]; fetch: number; unpack: number }>> = {};
  for (const image of IMAGES) {
    const ref = `${REGISTRY}/fixtures/${image}:latest`;
    for (let i = 0; i < RUNS; i++) {
      const order = i % 2 === 0 ? ['containerd', 'flotilla'] : ['flotilla', 'containerd'];
      for (const name of order) {
        const d = await daemons[name]!();
        try {
          await run('sync', []);
          const s = await timed(d, ['images', 'pull', '--plain-http', ref]);
          ((results[image] ??= {})[name] ??= { runs: [], fetch: 0, unpack: 0 }).runs.push(s);
        } finally {
          await d.stop();
        }
      }
    }
    for (const name of ['containerd', 'flotilla']) {
      const d = await daemons[name]!();
      try {
        await run('sync', []);
        results[image]![name]!.fetch = await timed(d, ['content', 'fetch', '--plain-http', ref]);
        results[image]![name]!.unpack = await timed(d, ['images', 'pull', '--plain-http', ref]);
      } finally {
        await d.stop();
      }
    }
  }

  console.log(`ctr images pull --plain-http, fresh roots, ${RUNS} runs each (seconds)`);
  console.log('image     daemon      median  runs                    fetch+write  decompress+extract');
  for (const image of IMAGES) {
    for (const name of ['containerd', 'flotilla']) {
      const r = results[image]![name]!;
      console.log(`${image.padEnd(9)} ${name.padEnd(10)} ${median(r.runs).toFixed(2).padStart(7)}  ${r.runs.map((x) => x.toFixed(2)).join('/').padEnd(22)} ${r.fetch.toFixed(2).padStart(11)}  ${r.unpack.toFixed(2).padStart(18)}`);
    }
    const ratio = median(results[image]!['flotilla']!.runs) / median(results[image]!['containerd']!.runs);
    console.log(`${image.padEnd(9)} ratio flotilla/containerd = ${ratio.toFixed(2)} (target <= 1.0): ${ratio <= 1 ? 'PASS' : 'FAIL'}`);
  }
  console.log(`BENCH_JSON ${JSON.stringify(results)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
