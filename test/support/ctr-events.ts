import { spawn } from 'node:child_process';
import { run, waitFor } from './exec.js';

/** One line of `ctr events`: `TIMESTAMP NAMESPACE TOPIC EVENT`. */
export interface CtrEvent {
  /** As Go prints a time: `2024-01-02 03:04:05.678 +0000 UTC`. */
  readonly timestamp: string;
  readonly namespace: string;
  readonly topic: string;
  /** The event as ctr prints it: its JSON, or '' when it had none. */
  readonly event: string;
}

export interface CtrEvents {
  /** What ctr has printed so far, in order. */
  readonly events: readonly CtrEvent[];
  /** Resolves once an event matching `pred` has been printed. */
  until(pred: (e: CtrEvent) => boolean, what: string, timeoutMs?: number): Promise<CtrEvent>;
  /** What ctr printed on stderr (warnings about event types it cannot decode, errors). */
  stderr(): string;
  stop(): Promise<void>;
}

// `2024-01-02 03:04:05.678901234 +0000 UTC default /containers/create {"id":"c1"}`
const LINE = /^(\S+ \S+ \S+ \S+) (\S+) (\S+) ?(.*)$/;

/** The namespace whose events tell that a subscription is in place; `printed` leaves them out. */
export const WARMUP = 'flotilla-warmup';

/**
 * Run `ctr events [filters...]` against `address` and collect what it prints. It returns once the
 * subscription is known to be in place: `warmUp` is run (with its number) until ctr prints an event in
 * namespace WARMUP, so the filters must let such an event through (`namespace==flotilla-warmup` as one
 * more filter does).
 */
export async function watchCtrEvents(
  address: string,
  filters: readonly string[] = [],
  warmUp: (n: number) => Promise<unknown> = (n) => run('ctr', ['-a', address, '-n', WARMUP, 'namespaces', 'label', WARMUP, 'n', String(n)]),
): Promise<CtrEvents> {
  const child = spawn('ctr', ['-a', address, 'events', ...filters], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: CtrEvent[] = [];
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      const m = LINE.exec(line);
      if (m) events.push({ timestamp: m[1]!, namespace: m[2]!, topic: m[3]!, event: m[4] ?? '' });
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { err += chunk; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const w: CtrEvents = {
    events,
    until: (pred, what, timeoutMs = 15_000) => waitFor(() => events.find(pred), `ctr events to print ${what}`, timeoutMs),
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  let n = 0;
  try {
    await waitFor(async () => {
      await warmUp(n++);
      await new Promise((r) => setTimeout(r, 100));
      return events.some((e) => e.namespace === WARMUP);
    }, 'ctr events to subscribe', 15_000);
  } catch (e) {
    await w.stop();
    throw new Error(`${String(e)}; ctr events said: ${err}`);
  }
  return w;
}

/** The events after the warm-up, as `NAMESPACE TOPIC EVENT` lines (times differ from run to run). */
export function printed(w: CtrEvents): string[] {
  return w.events.filter((e) => e.namespace !== WARMUP).map((e) => `${e.namespace} ${e.topic} ${e.event}`.trimEnd());
}
