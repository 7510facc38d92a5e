/**
 * Foundation benchmark: Flotilla against Debian's containerd, side by side on the same machine.
 *
 *  1. Unary call rate and latency for Version and Namespaces.List through each daemon's socket, with the
 *     same client code (the repo's nice-grpc client factory, one channel per target).
 *  2. Idle memory of the whole Flotilla cluster (gateway + every plugin process) and of containerd,
 *     as RSS and PSS, checked against the foundation target (< 400 MiB RSS), next to the floor of the
 *     stack itself: one node process with the libraries every Flotilla process loads, times the number
 *     of processes.
 *
 * Run from the repo root: `pnpm exec tsx bench/foundation.ts` (or `pnpm bench`).
 * The last line of stdout is `BENCH_JSON {...}` with every number, for scripts.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { availableParallelism, loadavg, release } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ShapeOf } from '@flotilla/rpc';
import { clientOf, dialUnix, type ServiceClient } from '@flotilla/rpc/client';
import { Version } from '@flotilla/proto/containerd/services/version/v1/version_pb';
import { Namespaces } from '@flotilla/proto/containerd/services/namespaces/v1/namespace_pb';
import { startContainerd, startFlotilla, type Containerd, type Flotilla } from '@flotilla/test/support';
import type { Channel } from 'nice-grpc';
import { serviceNames } from '@flotilla/plugin';

/** Per op and target. 200 was not enough (the first op measured still sped up 3x across its rounds), nor was 1,000 for the gateway, whose rate still rose round after round; 5,000 reaches steady state. */
const WARMUP_CALLS = 5_000;
const CALLS_PER_OP = 2_000;
const ROUNDS = 4;
const IDLE_WAIT_MS = 6_000;
const RSS_TARGET_MIB = 400;
/** Abort the calls after this long; the daemons' own stop timeouts keep cleanup bounded too. */
const RUN_BUDGET_MS = 150_000;
/** If cleanup itself hangs, kill what we started and exit: the whole run stays under 3 minutes. */
const HARD_EXIT_MS = 175_000;

type TargetName = 'flotilla' | 'containerd';
type OpName = 'version' | 'namespaces.list';

interface Target {
  readonly name: TargetName;
  readonly channel: Channel;
  readonly version: ServiceClient<ShapeOf<typeof Version>>;
  readonly namespaces: ServiceClient<ShapeOf<typeof Namespaces>>;
  /** Every pid whose CPU counts as this target's server work. */
  readonly pids: readonly number[];
}

interface Op {
  readonly name: OpName;
  call(t: Target, signal: AbortSignal): Promise<unknown>;
}

/** One batch of sequential calls against one target. */
interface Batch {
  latenciesNs: number[];
  elapsedNs: number;
  clientCpuUs: number;
  serverCpuUs: number;
}

interface OpResult {
  calls: number;
  callsPerSec: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
  /** calls/s of each round, to show how noisy the machine was. */
  roundCallsPerSec: number[];
  clientCpuUsPerCall: number;
  serverCpuUsPerCall: number;
}

interface ProcMemory {
  name: string;
  pid: number;
  rssKiB: number;
  rssAnonKiB: number;
  rssFileKiB: number;
  rssShmemKiB: number;
  pssKiB: number;
  pssAnonKiB: number;
  pssFileKiB: number;
}

const ops: readonly Op[] = [
  { name: 'version', call: (t, signal) => t.version.version({}, { signal }) },
  // No namespace metadata: Namespaces.List is not namespaced on containerd either.
  { name: 'namespaces.list', call: (t, signal) => t.namespaces.list({}, { signal }) },
];

// ---------------------------------------------------------------- /proc readers

const CLK_TCK = 100; // USER_HZ is 100 on every Linux ABI Node runs on; /proc/PID/stat counts in it.

function kiBField(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  if (!m) throw new Error(`no ${field} field`);
  return Number(m[1]);
}

/** The fields of /proc/PID/stat after `comm`, which may itself contain spaces and parentheses. */
function statFields(pid: number): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).trim().split(' ');
}

/** utime + stime of a process, in µs; resolution is one clock tick (10 ms). */
function cpuUs(pid: number): number {
  const f = statFields(pid);
  return ((Number(f[11]) + Number(f[12])) * 1_000_000) / CLK_TCK;
}

function totalCpuUs(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuUs(pid), 0);
}

function memoryOf(name: string, pid: number): ProcMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  return {
    name,
    pid,
    rssKiB: kiBField(status, 'VmRSS'),
    rssAnonKiB: kiBField(status, 'RssAnon'),
    rssFileKiB: kiBField(status, 'RssFile'),
    rssShmemKiB: kiBField(status, 'RssShmem'),
    pssKiB: kiBField(rollup, 'Pss'),
    pssAnonKiB: kiBField(rollup, 'Pss_Anon'),
    pssFileKiB: kiBField(rollup, 'Pss_File'),
  };
}

/** Every live descendant of `root`, so a process the gateway does not report still gets counted. */
function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(statFields(Number(entry))[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited while we looked
    }
  }
  const out: number[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

// ---------------------------------------------------------------- targets

/** The gateway's pid and each plugin process's pid as the gateway reports it, plus any unreported child. */
async function flotillaProcesses(f: Flotilla): Promise<{ name: string; pid: number }[]> {
  const gatewayPid = f.daemon.pid;
  if (gatewayPid === undefined) throw new Error('flotilla daemon has no pid');
  const procs = [{ name: 'gateway', pid: gatewayPid }];
  for (const name of serviceNames) procs.push({ name, pid: await f.processPid(name) });
  const known = new Set(procs.map((p) => p.pid));
  for (const pid of descendantsOf(gatewayPid)) {
    if (!known.has(pid)) procs.push({ name: `unreported child`, pid });
  }
  return procs;
}

function makeTarget(name: TargetName, address: string, pids: readonly number[]): Target {
  // A fresh channel per target through the same factory, so both sides pay identical client costs.
  const channel = dialUnix(address);
  return { name, channel, pids, version: clientOf(Version, channel), namespaces: clientOf(Namespaces, channel) };
}

/** Start both daemons in parallel; if one fails, stop the other before rethrowing. */
async function startBoth(): Promise<{ f: Flotilla; c: Containerd }> {
  const [fr, cr] = await Promise.allSettled([startFlotilla({ logLevel: 'warn' }), startContainerd()]);
  if (fr.status === 'fulfilled' && cr.status === 'fulfilled') return { f: fr.value, c: cr.value };
  if (fr.status === 'fulfilled') await fr.value.stop();
  if (cr.status === 'fulfilled') await cr.value.stop();
  throw fr.status === 'rejected' ? fr.reason : (cr as PromiseRejectedResult).reason;
}

// ---------------------------------------------------------------- measurement

async function runBatch(t: Target, op: Op, calls: number, signal: AbortSignal): Promise<Batch> {
  const latenciesNs = new Array<number>(calls);
  const cpu0 = process.cpuUsage();
  const server0 = totalCpuUs(t.pids);
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    await op.call(t, signal);
    latenciesNs[i] = Number(process.hrtime.bigint() - t0);
  }
  const elapsedNs = Number(process.hrtime.bigint() - start);
  const cpu = process.cpuUsage(cpu0);
  return { latenciesNs, elapsedNs, clientCpuUs: cpu.user + cpu.system, serverCpuUs: totalCpuUs(t.pids) - server0 };
}

function percentileUs(sortedNs: readonly number[], p: number): number {
  const i = Math.max(0, Math.ceil((p / 100) * sortedNs.length) - 1);
  return (sortedNs[i] ?? NaN) / 1000;
}

function summarize(batches: readonly Batch[]): OpResult {
  const all = batches.flatMap((b) => b.latenciesNs).sort((a, b) => a - b);
  const elapsedNs = batches.reduce((s, b) => s + b.elapsedNs, 0);
  const calls = all.length;
  return {
    calls,
    callsPerSec: calls / (elapsedNs / 1e9),
    p50Us: percentileUs(all, 50),
    p99Us: percentileUs(all, 99),
    meanUs: elapsedNs / calls / 1000,
    roundCallsPerSec: batches.map((b) => Math.round(b.latenciesNs.length / (b.elapsedNs / 1e9))),
    clientCpuUsPerCall: batches.reduce((s, b) => s + b.clientCpuUs, 0) / calls,
    serverCpuUsPerCall: batches.reduce((s, b) => s + b.serverCpuUs, 0) / calls,
  };
}

/**
 * Warm every op on every target before timing any of them: the first few hundred calls pay for JIT in
 * the client and in node servers, and warming per op would bill that to whichever op is measured first.
 */
async function warmUp(targets: readonly Target[], signal: AbortSignal): Promise<void> {
  for (const op of ops) for (const t of targets) await runBatch(t, op, WARMUP_CALLS, signal);
}

/**
 * Rounds alternate which target goes first, so drift (CPU frequency, other tenants, GC in the client)
 * falls on both targets rather than on whichever always runs second.
 */
async function measureOp(op: Op, targets: readonly [Target, Target], signal: AbortSignal) {
  const batches = new Map<TargetName, Batch[]>(targets.map((t) => [t.name, []]));
  const perRound = CALLS_PER_OP / ROUNDS;
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? targets : ([targets[1], targets[0]] as const);
    for (const t of order) batches.get(t.name)!.push(await runBatch(t, op, perRound, signal));
  }
  return Object.fromEntries(targets.map((t) => [t.name, summarize(batches.get(t.name)!)])) as Record<TargetName, OpResult>;
}

// ---------------------------------------------------------------- output

const mib = (kib: number): number => kib / 1024;
const fmt = (n: number, digits = 1): string => n.toFixed(digits);

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * Each round's flotilla rate over containerd's rate in the same round: the two batches ran back to back,
 * so machine noise mostly cancels, and the spread shows how far to trust the overall ratio.
 */
function roundRatios(r: Record<TargetName, OpResult>): number[] {
  return r.flotilla.roundCallsPerSec.map((f, i) => f / (r.containerd.roundCallsPerSec[i] ?? NaN));
}

function printCalls(results: Record<OpName, Record<TargetName, OpResult>>): void {
  const rows: string[][] = [];
  for (const op of ops) {
    const r = results[op.name];
    for (const name of ['flotilla', 'containerd'] as const) {
      const x = r[name];
      rows.push([op.name, name, fmt(x.callsPerSec, 0), fmt(x.p50Us, 0), fmt(x.p99Us, 0), fmt(x.serverCpuUsPerCall, 0), fmt(x.clientCpuUsPerCall, 0), x.roundCallsPerSec.join('/')]);
    }
  }
  console.log(`\nUnary calls: ${WARMUP_CALLS} warm-up, then ${CALLS_PER_OP} sequential per target and op in ${ROUNDS} alternating rounds`);
  console.log(table(['op', 'target', 'calls/s', 'p50 µs', 'p99 µs', 'server CPU µs/call', 'client CPU µs/call', 'calls/s per round'], rows));
  console.log('');
  for (const op of ops) {
    const r = results[op.name];
    const ratio = r.flotilla.callsPerSec / r.containerd.callsPerSec;
    const perRound = roundRatios(r).map((x) => fmt(x, 2)).join('/');
    console.log(`${op.name.padEnd(16)} ratio flotilla/containerd = ${fmt(ratio, 2)} (${ratio >= 1 ? 'Flotilla at least as fast' : 'Flotilla slower'}; per round ${perRound})`);
  }
}

function memoryRows(procs: readonly ProcMemory[]): string[][] {
  return procs.map((p) => [p.name, String(p.pid), fmt(mib(p.rssKiB)), fmt(mib(p.rssAnonKiB)), fmt(mib(p.rssFileKiB)), fmt(mib(p.pssKiB)), fmt(mib(p.pssAnonKiB)), fmt(mib(p.pssFileKiB))]);
}

function sumField(procs: readonly ProcMemory[], key: keyof Omit<ProcMemory, 'name' | 'pid'>): number {
  return procs.reduce((s, p) => s + p[key], 0);
}

function printMemory(cluster: readonly ProcMemory[], containerd: ProcMemory): void {
  const sum = (key: keyof Omit<ProcMemory, 'name' | 'pid'>) => fmt(mib(sumField(cluster, key)));
  const totalRow = ['flotilla total', `${cluster.length} procs`, sum('rssKiB'), sum('rssAnonKiB'), sum('rssFileKiB'), sum('pssKiB'), sum('pssAnonKiB'), sum('pssFileKiB')];
  console.log(`\nIdle memory, ${IDLE_WAIT_MS / 1000} s after the calls (MiB). RSS counts the node binary's shared file pages once per process; PSS splits them.`);
  console.log(table(['process', 'pid', 'RSS', 'RssAnon', 'RssFile', 'PSS', 'Pss_Anon', 'Pss_File'], [...memoryRows(cluster), totalRow, ...memoryRows([containerd])]));
  const rss = mib(sumField(cluster, 'rssKiB'));
  const pss = mib(sumField(cluster, 'pssKiB'));
  console.log('');
  console.log(`idle cluster RSS total ${fmt(rss)} MiB (target < ${RSS_TARGET_MIB} MiB): ${rss < RSS_TARGET_MIB ? 'PASS' : 'FAIL'}`);
  console.log(`idle cluster PSS total ${fmt(pss)} MiB (target < ${RSS_TARGET_MIB} MiB, informational): ${pss < RSS_TARGET_MIB ? 'PASS' : 'FAIL'}`);
  console.log(`containerd idle RSS ${fmt(mib(containerd.rssKiB))} MiB, PSS ${fmt(mib(containerd.pssKiB))} MiB`);
}

// ---------------------------------------------------------------- the stack's own floor

/**
 * What one process of this stack costs before any Flotilla code: node with the flags the gateway gives
 * its plugin processes, listening on a Unix socket, (a) bare and (b) with the libraries every Flotilla
 * process must load (the protobuf-es runtime the generated code imports, pino). The target is set for the
 * whole cluster, so eight of (b) is the least any design of eight Node processes can reach.
 */
const floorScript = (withStack: boolean) => `
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { readFileSync, rmSync } from 'node:fs';
${withStack ? `
const req = createRequire(${JSON.stringify(fileURLToPath(new URL('../packages/log/package.json', import.meta.url)))});
req('pino')({ level: 'info' }).info('floor');
const proto = createRequire(${JSON.stringify(fileURLToPath(new URL('../proto/package.json', import.meta.url)))});
await import(proto.resolve('@bufbuild/protobuf'));
await import(proto.resolve('@bufbuild/protobuf/codegenv2'));
await import(proto.resolve('@bufbuild/protobuf/wkt'));` : ''}
const path = '/tmp/flotilla-floor-' + process.pid + '.sock';
createServer(() => {}).listen(path);
setTimeout(() => {
  const status = readFileSync('/proc/self/status', 'utf8');
  process.stdout.write('FLOOR ' + /VmRSS:\\s+(\\d+)/.exec(status)[1] + String.fromCharCode(10));
  rmSync(path, { force: true });
  process.exit(0);
}, 1500);
`;

/** The node flags a running process was started with: what precedes its script on its command line. */
function nodeFlagsOf(pid: number): string[] {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(1);
  const script = argv.findIndex((a) => !a.startsWith('--'));
  return script < 0 ? argv : argv.slice(0, script);
}

async function floorRssKiB(flags: readonly string[], withStack: boolean): Promise<number> {
  const child = spawn(process.execPath, [...flags, '--input-type=module', '-e', floorScript(withStack)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  await new Promise((resolve) => child.once('close', resolve));
  const m = /FLOOR (\d+)/.exec(out);
  if (!m) throw new Error(`floor probe printed no size: ${out}`);
  return Number(m[1]);
}

// ---------------------------------------------------------------- main

async function bench(f: Flotilla, c: Containerd, signal: AbortSignal) {
  const flotillaProcs = await flotillaProcesses(f);
  const containerdPid = c.process.pid;
  if (containerdPid === undefined) throw new Error('containerd has no pid');
  const fl = makeTarget('flotilla', f.address, flotillaProcs.map((p) => p.pid));
  const cd = makeTarget('containerd', c.address, [containerdPid, ...descendantsOf(containerdPid)]);
  try {
    // One call each through the benchmark's own channels proves both answer before timing starts.
    const versions = { flotilla: (await fl.version.version({}, { signal })).version, containerd: (await cd.version.version({}, { signal })).version };
    console.log(`flotilla ${versions.flotilla} (gateway pid ${flotillaProcs[0]!.pid}, ${flotillaProcs.length - 1} plugin processes); containerd ${versions.containerd} (pid ${containerdPid})`);

    // For contrast with the idle figure after the calls: how much does serving traffic leave behind?
    const before = flotillaProcs.map((p) => memoryOf(p.name, p.pid));

    await warmUp([fl, cd], signal);
    const calls = {} as Record<OpName, Record<TargetName, OpResult>>;
    for (const op of ops) calls[op.name] = await measureOp(op, [fl, cd], signal);
    printCalls(calls);

    // Right after the calls, before the processes notice they are idle and give memory back.
    const busy = flotillaProcs.map((p) => memoryOf(p.name, p.pid));
    await sleep(IDLE_WAIT_MS, undefined, { signal });
    const cluster = flotillaProcs.map((p) => memoryOf(p.name, p.pid));
    const containerdMem = memoryOf('containerd', containerdPid);
    printMemory(cluster, containerdMem);
    console.log(`(right after the calls the cluster was RSS ${fmt(mib(sumField(busy, 'rssKiB')))} MiB; each process gives back what a busy period grew once it has been idle for two seconds)`);
    console.log(`(before any calls, just started, the cluster was RSS ${fmt(mib(sumField(before, 'rssKiB')))} MiB, PSS ${fmt(mib(sumField(before, 'pssKiB')))} MiB)`);
    // The flags the gateway really gave its plugin processes, read from one of them.
    const flags = nodeFlagsOf(flotillaProcs.find((p) => p.name !== 'gateway')!.pid);
    const floor = { flags, bareKiB: await floorRssKiB(flags, false), stackKiB: await floorRssKiB(flags, true) };
    const n = flotillaProcs.length;
    console.log(`\nThe stack's floor, one node process with the plugin processes' flags (${flags.join(' ')}) and a listening socket, no Flotilla code:`);
    console.log(`  bare node ${fmt(mib(floor.bareKiB))} MiB RSS; with the protobuf-es runtime and pino loaded ${fmt(mib(floor.stackKiB))} MiB`);
    console.log(`  ${n} processes x that = ${fmt(mib(floor.bareKiB * n))} MiB bare, ${fmt(mib(floor.stackKiB * n))} MiB with the libraries; the cluster's own code adds ${fmt(mib(sumField(cluster, 'rssKiB') - floor.stackKiB * n))} MiB over the latter`);
    return { versions, calls, cluster, containerdMem, before, busy, floor };
  } finally {
    fl.channel.close();
    cd.channel.close();
  }
}

function toJson(r: Awaited<ReturnType<typeof bench>>) {
  const totalRssMiB = mib(sumField(r.cluster, 'rssKiB'));
  const totalPssMiB = mib(sumField(r.cluster, 'pssKiB'));
  const ratios = Object.fromEntries(ops.map((op) => [op.name, r.calls[op.name].flotilla.callsPerSec / r.calls[op.name].containerd.callsPerSec]));
  const perRoundRatios = Object.fromEntries(ops.map((op) => [op.name, roundRatios(r.calls[op.name])]));
  return {
    config: { warmupCalls: WARMUP_CALLS, callsPerOp: CALLS_PER_OP, rounds: ROUNDS, idleWaitMs: IDLE_WAIT_MS },
    env: { node: process.version, kernel: release(), cpus: availableParallelism(), loadAvgAtEnd: loadavg() },
    versions: r.versions,
    calls: r.calls,
    ratios,
    perRoundRatios,
    memory: {
      flotilla: {
        processes: r.cluster,
        totalRssMiB,
        totalPssMiB,
        beforeCalls: { totalRssMiB: mib(sumField(r.before, 'rssKiB')), totalPssMiB: mib(sumField(r.before, 'pssKiB')) },
        rightAfterCalls: { totalRssMiB: mib(sumField(r.busy, 'rssKiB')) },
        stackFloor: { flags: r.floor.flags, bareRssMiB: mib(r.floor.bareKiB), withLibrariesRssMiB: mib(r.floor.stackKiB), processes: r.cluster.length },
      },
      containerd: { ...r.containerdMem, rssMiB: mib(r.containerdMem.rssKiB), pssMiB: mib(r.containerdMem.pssKiB) },
    },
    target: { rssMiB: RSS_TARGET_MIB, rssPass: totalRssMiB < RSS_TARGET_MIB, pssPassInformational: totalPssMiB < RSS_TARGET_MIB },
  };
}

async function main(): Promise<void> {
  const budget = new AbortController();
  let started: { f: Flotilla; c: Containerd } | undefined;
  const budgetTimer = setTimeout(() => budget.abort(new Error(`run budget of ${RUN_BUDGET_MS / 1000} s exceeded`)), RUN_BUDGET_MS);
  const hardExit = setTimeout(() => {
    console.error('cleanup hung; killing the daemons');
    started?.f.daemon.kill('SIGKILL'); // its plugin processes exit when their stdin pipe closes
    started?.c.process.kill('SIGKILL');
    process.exit(2);
  }, HARD_EXIT_MS);
  hardExit.unref();
  const onSignal = () => budget.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);

  const t0 = Date.now();
  try {
    started = await startBoth();
    // Other work on the machine (a test run, a build) skews both rates; the load average makes it visible.
    console.log(`both daemons ready in ${fmt((Date.now() - t0) / 1000)} s; load average ${loadavg().map((x) => fmt(x, 2)).join(' ')} on ${availableParallelism()} CPUs`);
    const result = await bench(started.f, started.c, budget.signal);
    console.log(`\nBENCH_JSON ${JSON.stringify(toJson(result))}`);
  } finally {
    clearTimeout(budgetTimer);
    await Promise.allSettled([started?.f.stop(), started?.c.stop()]);
    clearTimeout(hardExit);
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
