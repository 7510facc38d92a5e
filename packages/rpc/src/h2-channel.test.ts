import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { isAbortError } from 'abort-controller-x';
import { ClientError, Metadata, ServerError, Status, type CallContext } from 'nice-grpc-common';
import { NotFoundError, UnavailableError } from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import {
  Content,
  InfoResponseSchema,
  ReadContentRequestSchema,
  ReadContentResponseSchema,
  WriteContentRequestSchema,
  WriteContentResponseSchema,
} from '@flotilla/proto/containerd/services/content/v1/content_pb';
import { Version, VersionResponseSchema } from '@flotilla/proto/containerd/services/version/v1/version_pb';
import { clientOf, dialH2, type H2Channel } from './client.js';
import { definitionOf, rawDefinitionOf } from './definition.js';
import { withUnimplemented } from './implementation.js';
import { createRpcServer, MAX_MESSAGE_BYTES, type RpcServer } from './h2-server.js';
import { rejection } from './test-support.js';

const silent = createLogger({ service: 'test', level: 'silent' });

let cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

function socketPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'h2-channel-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'rpc.sock');
}

async function serve(path: string, register: (s: RpcServer) => void): Promise<RpcServer> {
  const server = createRpcServer(silent);
  register(server);
  await server.listen(path);
  cleanups.push(() => server.forceShutdown());
  return server;
}

function channel(path: string): H2Channel {
  const ch = dialH2(path);
  cleanups.push(() => ch.close());
  return ch;
}


const content = rawDefinitionOf(Content);
const version = rawDefinitionOf(Version);
const infoPath = content['Info']!.path;
const readPath = content['Read']!.path;
const writePath = content['Write']!.path;

/** A content service of raw handlers, enough to exercise every call shape. */
function contentServer(path: string, seen: { metadata?: Metadata; aborted?: boolean } = {}): Promise<RpcServer> {
  const def = definitionOf(Content);
  return serve(path, (s) => s.add(def, withUnimplemented(Content, {
    info: async (req: { digest: string }, ctx: CallContext) => {
      seen.metadata = ctx.metadata;
      if (req.digest === 'missing') throw new ServerError(Status.NOT_FOUND, 'content missing: not found %25 ünïcode');
      return { info: { digest: req.digest, size: 7n } };
    },
    read: async function* (req: { digest: string; size: bigint }, ctx: CallContext) {
      if (req.digest === 'hang') {
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
        seen.aborted = true;
        return;
      }
      for (let i = 0; i < Number(req.size); i++) yield { offset: BigInt(i), data: Buffer.alloc(100_000, i) };
      if (req.digest === 'fails-late') throw new ServerError(Status.DATA_LOSS, 'gone half-way');
    },
    write: async function* (reqs: AsyncIterable<{ ref: string; data: Uint8Array }>) {
      let total = 0;
      for await (const r of reqs) {
        total += r.data.length;
        yield { offset: BigInt(total), total: BigInt(total), digest: r.ref };
      }
    },
  } as never)));
}

describe('dialH2: raw calls', () => {
  it('makes unary calls, and passes metadata, -bin keys included', async () => {
    const path = socketPath();
    const seen: { metadata?: Metadata } = {};
    await contentServer(path, seen);
    const ch = channel(path);
    const md = Metadata({ 'containerd-namespace': 'ns1', 'trace-bin': new Uint8Array([0, 1, 255]) });
    const bytes = await ch.unary(infoPath, Buffer.from(toBinary(ReadContentRequestSchema, create(ReadContentRequestSchema, { digest: 'sha256:abc' }))), { metadata: md });
    expect(fromBinary(InfoResponseSchema, bytes).info?.digest).toBe('sha256:abc');
    expect(seen.metadata?.get('containerd-namespace')).toBe('ns1');
    expect([...(seen.metadata?.get('trace-bin') as Uint8Array)]).toEqual([0, 1, 255]);
    // Many in flight on one connection.
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) => ch.unary(infoPath, toBinary(ReadContentRequestSchema, create(ReadContentRequestSchema, { digest: `d${i}` })))));
    expect(all.map((b) => fromBinary(InfoResponseSchema, b).info?.digest)).toEqual(Array.from({ length: 50 }, (_, i) => `d${i}`));
  });

  it('reports the server status as it came: code and message', async () => {
    const path = socketPath();
    await contentServer(path);
    const err = await rejection(channel(path).unary(infoPath, toBinary(ReadContentRequestSchema, create(ReadContentRequestSchema, { digest: 'missing' }))));
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe(Status.NOT_FOUND);
    expect((err as ClientError).details).toBe('content missing: not found %25 ünïcode');
    const unimplemented = await rejection(channel(path).unary(version['Version']!.path, new Uint8Array()));
    expect((unimplemented as ClientError).code).toBe(Status.UNIMPLEMENTED);
  });

  it('streams responses, and ends with the status that follows them', async () => {
    const path = socketPath();
    await contentServer(path);
    const ch = channel(path);
    const req = (digest: string, size: number) => toBinary(ReadContentRequestSchema, create(ReadContentRequestSchema, { digest, size: BigInt(size) }));
    const got: number[] = [];
    for await (const m of ch.stream(readPath, req('ok', 30))) got.push(fromBinary(ReadContentResponseSchema, m).data[0]!);
    expect(got).toEqual(Array.from({ length: 30 }, (_, i) => i));
    const partial: number[] = [];
    const err = await rejection((async () => {
      for await (const m of ch.stream(readPath, req('fails-late', 3))) partial.push(fromBinary(ReadContentResponseSchema, m).data.length);
    })());
    expect(partial).toEqual([100_000, 100_000, 100_000]);
    expect((err as ClientError).code).toBe(Status.DATA_LOSS);
  });

  it('streams requests in both directions', async () => {
    const path = socketPath();
    await contentServer(path);
    async function* requests() {
      for (let i = 0; i < 20; i++) yield toBinary(WriteContentRequestSchema, create(WriteContentRequestSchema, { ref: `r${i}`, data: Buffer.alloc(200_000) }));
    }
    const offsets: bigint[] = [];
    for await (const m of channel(path).stream(writePath, requests())) offsets.push(fromBinary(WriteContentResponseSchema, m).offset);
    expect(offsets).toEqual(Array.from({ length: 20 }, (_, i) => BigInt((i + 1) * 200_000)));
  });

  it('takes a stream of requests for one response (client streaming)', async () => {
    const path = socketPath();
    const sum = rawDefinitionOf({ typeName: 'test.Sum', methods: [{ name: 'Total', methodKind: 'client_streaming' }] });
    await serve(path, (s) => s.add(sum, {
      Total: async (reqs: AsyncIterable<Uint8Array>) => {
        let n = 0;
        for await (const r of reqs) n += r.length;
        return Buffer.from(String(n));
      },
    } as never));
    async function* requests() {
      for (let i = 1; i <= 5; i++) yield new Uint8Array(i * 1000);
    }
    expect(Buffer.from(await channel(path).unary(sum['Total']!.path, requests())).toString()).toBe('15000');
  });

  it('cancels the call on the server when the signal aborts, and rejects with an AbortError', async () => {
    const path = socketPath();
    const seen: { aborted?: boolean } = {};
    await contentServer(path, seen);
    const ac = new AbortController();
    const call = (async () => {
      for await (const _ of channel(path).stream(readPath, toBinary(ReadContentRequestSchema, create(ReadContentRequestSchema, { digest: 'hang' })), { signal: ac.signal })) { /* none */ }
    })();
    setTimeout(() => ac.abort(), 50);
    expect(isAbortError(await rejection(call))).toBe(true);
    await expect.poll(() => seen.aborted).toBe(true);
  });

  it('refuses a response larger than the limit with ResourceExhausted', async () => {
    const path = socketPath();
    await serve(path, (s) => s.add(version, { Version: async () => new Uint8Array(MAX_MESSAGE_BYTES + 1) } as never));
    const err = await rejection(channel(path).unary(version['Version']!.path, new Uint8Array()));
    expect((err as ClientError).code).toBe(Status.RESOURCE_EXHAUSTED);
  });

  it('answers Unavailable while nothing listens, and reaches a server that comes back', async () => {
    const path = socketPath();
    const ch = channel(path);
    const call = () => ch.unary(version['Version']!.path, new Uint8Array());
    expect(((await rejection(call())) as ClientError).code).toBe(Status.UNAVAILABLE);
    const first = await serve(path, (s) => s.add(version, { Version: async () => toBinary(VersionResponseSchema, create(VersionResponseSchema, { version: 'one' })) } as never));
    expect(fromBinary(VersionResponseSchema, await call()).version).toBe('one');
    first.forceShutdown();
    await first.shutdown();
    rmSync(path, { force: true });
    expect(((await rejection(call())) as ClientError).code).toBe(Status.UNAVAILABLE);
    await serve(path, (s) => s.add(version, { Version: async () => toBinary(VersionResponseSchema, create(VersionResponseSchema, { version: 'two' })) } as never));
    expect(fromBinary(VersionResponseSchema, await call()).version).toBe('two');
  });
});

describe('clientOf over an H2Channel', () => {
  it('encodes and decodes messages and rejects with errdefs classes', async () => {
    const path = socketPath();
    await contentServer(path);
    const client = clientOf(Content, channel(path));
    expect((await client.info({ digest: 'sha256:1' })).info?.size).toBe(7n);
    expect(await rejection(client.info({ digest: 'missing' }))).toBeInstanceOf(NotFoundError);
    const sizes: number[] = [];
    for await (const r of client.read({ digest: 'x', size: 2n })) sizes.push(r.data.length);
    expect(sizes).toEqual([100_000, 100_000]);
    async function* writes() {
      yield { ref: 'a', data: Buffer.alloc(10) };
      yield { ref: 'b', data: Buffer.alloc(5) };
    }
    const offsets: bigint[] = [];
    for await (const r of client.write(writes())) offsets.push(r.offset);
    expect(offsets).toEqual([10n, 15n]);
    const dead = clientOf(Content, channel(join(path, '..', 'nobody.sock')));
    expect(await rejection(dead.info({ digest: 'd' }))).toBeInstanceOf(UnavailableError);
  });
});
