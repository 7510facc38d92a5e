import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Health } from '@flotilla/proto/grpc/health/v1/health_pb';
import { createLogger } from '@flotilla/log';
import { createHealth, definitionOf } from '@flotilla/rpc';
import { clientOf, dialH2 } from '@flotilla/rpc/client';
import { loadPlugins } from './loader.js';
import type { Registration, WarmUpContext } from './registration.js';
import { PluginType } from './types.js';
import { warmUpPlugins } from './warm-up.js';

let dir: string;
let lines: Record<string, unknown>[];
const log = () => createLogger({
  service: 'test',
  level: 'debug',
  destination: new Writable({ write: (c, _e, cb) => { lines.push(JSON.parse(String(c)) as Record<string, unknown>); cb(); } }),
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'warm-up-'));
  lines = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const reg = (type: PluginType, id: string, extra: Partial<Registration> = {}): Registration => ({ type, id, init: () => `${type}.${id}`, ...extra });

async function run(registrations: Registration[]) {
  const l = log();
  const plugins = await loadPlugins(registrations, { root: join(dir, 'root'), state: join(dir, 'state'), log: l });
  return warmUpPlugins(registrations, plugins, { scratch: join(dir, 'scratch'), log: l });
}

describe('warmUpPlugins', () => {
  it('runs the warm-up of each loaded plugin in an empty scratch directory, serving what it registers', async () => {
    const seen: { scratch: string; entries: string[]; status: number }[] = [];
    const warmUp = async (ctx: WarmUpContext) => {
      const entries = readdirSync(ctx.scratch);
      writeFileSync(join(ctx.scratch, 'left-behind'), 'x');
      const { address } = await ctx.serve((server) => server.add(definitionOf(Health), createHealth().implementation));
      const channel = dialH2(address);
      try {
        const { status } = await clientOf(Health, channel).check({ service: '' });
        seen.push({ scratch: ctx.scratch, entries, status });
      } finally {
        channel.close();
      }
    };
    await run([reg(PluginType.GRPC, 'a', { warmUp }), reg(PluginType.GRPC, 'b', { warmUp }), reg(PluginType.GRPC, 'c')]);
    expect(seen).toHaveLength(2);
    expect(seen.map((s) => s.entries)).toEqual([[], []]);
    expect(seen.map((s) => s.status)).toEqual([1, 1]); // SERVING, through the scratch server
    expect(new Set(seen.map((s) => s.scratch)).size).toBe(2);
    // The scratch space is gone, with what the warm-ups left in it.
    expect(existsSync(join(dir, 'scratch'))).toBe(false);
    expect(lines.filter((l) => l['msg'] === 'warmed up').map((l) => l['plugin'])).toEqual(['io.containerd.grpc.v1.a', 'io.containerd.grpc.v1.b']);
  });

  it('skips plugins that did not load, and a failing warm-up only costs a warning', async () => {
    const ran: string[] = [];
    const report = await run([
      reg(PluginType.GRPC, 'broken', { init: () => { throw new Error('no'); }, warmUp: async () => { ran.push('broken'); } }),
      reg(PluginType.GRPC, 'failing', { warmUp: async () => { ran.push('failing'); throw new Error('scratch trouble'); } }),
      reg(PluginType.GRPC, 'fine', { warmUp: async () => { ran.push('fine'); } }),
    ]);
    expect(ran).toEqual(['failing', 'fine']);
    expect(report.warmed).toEqual(['io.containerd.grpc.v1.fine']);
    expect(report.failed.map((f) => [f.plugin, (f.error as Error).message])).toEqual([['io.containerd.grpc.v1.failing', 'scratch trouble']]);
    const warning = lines.find((l) => l['msg'] === 'warm-up failed; serving without it');
    expect(warning?.['plugin']).toBe('io.containerd.grpc.v1.failing');
    expect(existsSync(join(dir, 'scratch'))).toBe(false);
  });

  it('closes the scratch servers a warm-up started', async () => {
    let address = '';
    await run([reg(PluginType.GRPC, 'a', {
      warmUp: async (ctx) => { ({ address } = await ctx.serve((server) => server.add(definitionOf(Health), createHealth().implementation))); },
    })]);
    const channel = dialH2(address);
    try {
      await expect(clientOf(Health, channel).check({ service: '' })).rejects.toThrow();
    } finally {
      channel.close();
    }
  });
});
