/**
 * Content benchmark: ingest the same 1 GiB of random bytes into Debian's containerd, into Flotilla through
 * its gateway, and into Flotilla's content process directly, with the same client; print MiB/s, the ratio
 * to containerd, and the ratio to `sha256sum` of the same file (hashing the bytes is the ceiling: every
 * store must hash what it writes).
 *
 * Three clients, each used for every target: the repo's proxy content store (1 MiB Write messages over one
 * bidi stream, the same protocol containerd's Go client speaks) waiting for each write's answer as
 * containerd's client does, the same with up to 8 writes in flight (the protocol allows it; every server
 * answers in order), and Debian's `ctr content ingest`.
 * Run from the repo root: `pnpm exec tsx bench/content.ts`. Env: BENCH_CONTENT_MIB (default 1024).
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomFillSync } from 'node:crypto';
import { remoteContentStore, type ContentStore } from '@flotilla/service-content';
import { dialUnix } from '@flotilla/rpc/client';
import { startContainerd, startFlotilla, run } from '@flotilla/test/support';

const MIB = 1 << 20;
const SIZE_MIB = Number(process.env['BENCH_CONTENT_MIB'] ?? 1024);
const CHUNK = 1 * MIB;

function makeFile(dir: string): { path: string; digest: string } {
  const path = join(dir, 'random.bin');
  const fd = openSync(path, 'w');
  const buf = Buffer.allocUnsafe(16 * MIB);
  const h = createHash('sha256');
  for (let written = 0; written < SIZE_MIB * MIB; written += buf.length) {
    randomFillSync(buf);
    writeSync(fd, buf);
    h.update(buf);
  }
  closeSync(fd);
  return { path, digest: `sha256:${h.digest('hex')}` };
}

async function viaProxy(store: ContentStore, file: { path: string; digest: string }, ref: string): Promise<number> {
  const start = performance.now();
  const w = await store.writer({ ref, total: SIZE_MIB * MIB, expected: file.digest });
  for await (const chunk of createReadStream(file.path, { highWaterMark: CHUNK })) await w.write(chunk as Buffer);
  await w.commit(SIZE_MIB * MIB, file.digest);
  await w.close();
  return (performance.now() - start) / 1000;
}

async function viaCtr(address: string, ns: string, file: { path: string; digest: string }, ref: string): Promise<number> {
  const start = performance.now();
  const r = await run('sh', ['-c', `ctr -a ${address} -n ${ns} content ingest --expected-size ${SIZE_MIB * MIB} --expected-digest ${file.digest} ${ref} < ${file.path}`], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`ctr ingest failed: ${r.stderr}`);
  return (performance.now() - start) / 1000;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-content-'));
  const file = makeFile(dir);
  const [f, c] = await Promise.all([startFlotilla({ logLevel: 'warn' }), startContainerd()]);
  try {
    const processSocket = (await f.plugins()).find((p) => p.type === 'io.flotilla.process.v1' && p.id === 'content')!.exports['address']!;
    const t0 = performance.now();
    const sha = await run('sha256sum', [file.path], { timeoutMs: 600_000 });
    const shaSeconds = (performance.now() - t0) / 1000;
    if (!sha.stdout.startsWith(file.digest.slice(7))) throw new Error('sha256sum disagrees with the generated digest');
    const targetsFor = (writeWindow: number) => [
      { name: 'containerd', store: remoteContentStore(dialUnix(c.address), { namespace: 'bench', writeWindow }), address: c.address, ns: 'bench' },
      { name: 'flotilla gateway', store: remoteContentStore(dialUnix(f.address), { namespace: 'bench', writeWindow }), address: f.address, ns: 'bench' },
      { name: 'flotilla content process', store: remoteContentStore(dialUnix(processSocket), { writeWindow }), address: processSocket, ns: 'bench' },
    ];
    const results: Record<string, Record<string, number>> = {};
    for (const client of ['proxy', 'pipelined', 'ctr'] as const) {
      for (const t of targetsFor(client === 'pipelined' ? 8 : 1)) {
        // Each target gets a fresh digest-free run: remove what the previous client stored first.
        await t.store.delete(file.digest).catch(() => {});
        if (t.name === 'flotilla gateway') await run('ctr', ['-a', f.address, '-n', 'bench', 'content', 'rm', file.digest]);
        await run('sync', []);
        const seconds = client === 'ctr' ? await viaCtr(t.address, t.ns, file, `bench-${client}-${Date.now()}`) : await viaProxy(t.store, file, `bench-${client}-${Date.now()}`);
        (results[client] ??= {})[t.name] = SIZE_MIB / seconds;
        // Free the disk for the next run; on containerd the blob goes at its next GC, so remove it outright.
        await t.store.delete(file.digest).catch(() => {});
      }
    }
    const shaRate = SIZE_MIB / shaSeconds;
    console.log(`ingest of ${SIZE_MIB} MiB random bytes; sha256sum of the same file: ${shaRate.toFixed(0)} MiB/s`);
    console.log('client     target                      MiB/s   vs containerd   vs sha256sum');
    for (const [client, byTarget] of Object.entries(results)) {
      const base = byTarget['containerd']!;
      for (const [name, rate] of Object.entries(byTarget)) {
        console.log(`${client.padEnd(10)} ${name.padEnd(26)} ${rate.toFixed(0).padStart(6)}   ${(rate / base).toFixed(2).padStart(13)}   ${(rate / shaRate).toFixed(2).padStart(12)}`);
      }
    }
    for (const client of Object.keys(results)) {
      const gw = results[client]!['flotilla gateway']! / results[client]!['containerd']!;
      console.log(`target: gateway >= 1.5x containerd (${client} client): ${gw.toFixed(2)}x ${gw >= 1.5 ? 'PASS' : 'FAIL'}`);
    }
    console.log(`BENCH_JSON ${JSON.stringify({ sizeMiB: SIZE_MIB, sha256sumMiBs: shaRate, results })}`);
  } finally {
    await Promise.all([f.stop(), c.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
