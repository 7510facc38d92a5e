import { afterEach, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { create, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { isAbortError } from 'abort-controller-x';
import { ClientError, createChannel, createClient, Metadata, ServerError, Status, type Channel, type ChannelOptions } from 'nice-grpc';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  UnavailableError,
  UnknownError,
  errorClasses,
  grpcCodeOf,
  type ErrorKind,
} from '@flotilla/errdefs';
import { createLogger, type Logger } from '@flotilla/log';
import { Version } from '@flotilla/proto/containerd/services/version/v1/version_pb';
import { Content, InfoRequestSchema, WriteAction } from '@flotilla/proto/containerd/services/content/v1/content_pb';
import { Health, HealthCheckResponse_ServingStatus } from '@flotilla/proto/grpc/health/v1/health_pb';
import { clientOf, dialUnix } from './client.js';
import { definitionOf } from './definition.js';
import { createRpcServer, MAX_MESSAGE_BYTES, type RpcServer, type RpcServerOptions, type ServerCallContext } from './h2-server.js';
import { frame } from './h2-framing.js';
import { rejection } from './test-support.js';

const silent = createLogger({ service: 'test', level: 'silent' });

/** A logger that keeps error lines, to check what the server reports as unexpected. */
function capturingLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    service: 'test',
    level: 'error',
    destination: new Writable({ write: (c, _e, cb) => { lines.push(JSON.parse(String(c)) as Record<string, unknown>); cb(); } }),
  });
  return { log, lines };
}

const MiB = 1 << 20;

// ---------------------------------------------------------------------------------------------------------
// Harness

let cleanups: (() => unknown)[] = [];
afterEach(async () => {
  const todo = cleanups.reverse();
  cleanups = [];
  for (const c of todo) {
    try { await c(); } catch { /* best effort */ }
  }
});

interface Started {
  server: RpcServer;
  path: string;
  /** nice-grpc channel as Flotilla's clients dial it, or with other grpc-js options. */
  channel(options?: ChannelOptions): Channel;
}

/** Tests register partial implementations: methods left out answer UNIMPLEMENTED (as withUnimplemented does). */
type Register = (server: { add(definition: Record<string, { path: string; responseStream: boolean }>, implementation: object): void }) => void;
function complete(definition: Record<string, { path: string; responseStream: boolean }>, implementation: object): object {
  const full: Record<string, unknown> = { ...implementation };
  for (const [name, m] of Object.entries(definition)) {
    if (full[name] !== undefined) continue;
    const fail = () => { throw new NotImplementedError(`${m.path} is not implemented`); };
    // eslint-disable-next-line require-yield
    full[name] = m.responseStream ? async function* () { fail(); } : async () => fail();
  }
  return full;
}

async function start(register: Register, log: Logger = silent, opts?: RpcServerOptions): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'h2-server-'));
  const path = join(dir, 'rpc.sock');
  const server = createRpcServer(log, opts);
  register({ add: (definition, implementation) => server.add(definition as never, complete(definition, implementation)) });
  await server.listen(path);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => server.forceShutdown());
  return {
    server,
    path,
    channel(options) {
      const ch = options ? createChannel(`unix://${path}`, undefined, options) : dialUnix(path);
      cleanups.push(() => ch.close());
      return ch;
    },
  };
}

interface Deferred<T> { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void }
function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

/** Fail instead of hanging: every wait in these tests is bounded. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves when the signal aborts (at once if it has), or after `cap` ms so a handler never lingers. */
function abortedOrAfter(signal: AbortSignal, cap: number): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), cap);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(true); }, { once: true });
  });
}


function expectClientError(err: unknown, code: Status, details?: string | RegExp): void {
  expect(err).toBeInstanceOf(ClientError);
  expect(Status[(err as ClientError).code]).toBe(Status[code]);
  if (typeof details === 'string') expect((err as ClientError).details).toBe(details);
  else if (details) expect((err as ClientError).details).toMatch(details);
}

const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };

// A hand-written service of raw-bytes methods, for client streaming and exact sizes.
const identity = (b: Uint8Array): Uint8Array => b;
function rawMethod<Req extends boolean, Res extends boolean>(name: string, requestStream: Req, responseStream: Res) {
  return {
    path: `/flotilla.test.v1.Raw/${name}`,
    requestStream,
    responseStream,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
    options: {},
  } as const;
}
const Raw = {
  /** Client streaming: replies u32(count) + sha256(concatenation) of what it received. */
  collect: rawMethod('Collect', true, false),
  /** Client streaming: reads only the first message and returns it. */
  first: rawMethod('First', true, false),
  /** Unary: returns its request. */
  echo: rawMethod('Echo', false, false),
};
type Bytes = Uint8Array;

function rawImpl(calls: { echo: number; collected: Bytes[][] } = { echo: 0, collected: [] }) {
  return {
    async collect(reqs: AsyncIterable<Bytes>): Promise<Bytes> {
      const got: Bytes[] = [];
      for await (const r of reqs) got.push(r);
      calls.collected.push(got);
      return Buffer.concat([u32(got.length), Buffer.from(sha256(...got), 'hex')]);
    },
    async first(reqs: AsyncIterable<Bytes>): Promise<Bytes> {
      for await (const r of reqs) return r;
      return new Uint8Array(0);
    },
    async echo(req: Bytes): Promise<Bytes> {
      calls.echo++;
      return req;
    },
  };
}

// Raw HTTP/2: for what a gRPC client library will not send (exact DATA frames, odd headers, no client deadline).
interface RawResult { status: number | undefined; message: string | undefined; headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; messages: Buffer[]; rstCode: number }

function parseFrames(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    expect(data[at]).toBe(0);
    const len = data.readUInt32BE(at + 1);
    out.push(data.subarray(at + 5, at + 5 + len));
    at += 5 + len;
  }
  expect(at).toBe(data.length);
  return out;
}

function rawCall(socket: string, path: string, chunks: Buffer[], extraHeaders: http2.OutgoingHttpHeaders = {}): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const session = http2.connect('http://localhost', { createConnection: () => connect(socket) });
    session.on('error', reject);
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...extraHeaders,
    });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const data: Buffer[] = [];
    req.on('response', (h) => { headers = h; });
    req.on('trailers', (t) => { trailers = t; });
    req.on('data', (c: Buffer) => data.push(c));
    req.on('error', () => {});
    req.on('close', () => {
      const status = trailers['grpc-status'] ?? headers['grpc-status'];
      const message = trailers['grpc-message'] ?? headers['grpc-message'];
      session.close();
      try {
        resolve({
          status: status === undefined ? undefined : Number(status),
          message: message === undefined ? undefined : decodeURIComponent(String(message)),
          headers,
          trailers,
          messages: parseFrames(Buffer.concat(data)),
          rstCode: req.rstCode ?? 0,
        });
      } catch (err) { reject(err); }
    });
    for (const c of chunks) req.write(c);
    req.end();
  });
}

/** An encoded InfoRequest, for raw calls. */
const infoRequest = (digest: string) => toBinary(InfoRequestSchema, create(InfoRequestSchema, { digest }));

/** A grpc-js client, for what nice-grpc's call options do not carry (a deadline). */
function grpcJsUnary(socket: string, method: string, request: Buffer, deadline: Date): Promise<{ err: grpc.ServiceError | null; res: Buffer | undefined }> {
  const client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
  cleanups.push(() => client.close());
  return new Promise((resolve) => {
    client.makeUnaryRequest(method, (b: Buffer) => b, (b: Buffer) => b, request, new grpc.Metadata(), { deadline }, (err, res) => resolve({ err, res }));
  });
}

// ---------------------------------------------------------------------------------------------------------

describe('h2 server: unary calls', () => {
  it('answers a unary call with an empty (zero-length) request', async () => {
    const seen: unknown[] = [];
    const { channel } = await start((s) => s.add(definitionOf(Version), {
      async version(req: unknown) { seen.push(req); return { version: 'v1.2.3', revision: 'deadbeef' }; },
    }));
    const res = await clientOf(Version, channel()).version({});
    expect(res.version).toBe('v1.2.3');
    expect(res.revision).toBe('deadbeef');
    expect(seen).toHaveLength(1);
    expect((seen[0] as { $typeName: string }).$typeName).toBe('google.protobuf.Empty');
  });

  it('sends a zero-length response (Empty) and decodes the request fields', async () => {
    const deleted: string[] = [];
    const { channel } = await start((s) => s.add(definitionOf(Content), {
      async delete(req: { digest: string }) { deleted.push(req.digest); return {}; },
    }));
    const res = await clientOf(Content, channel()).delete({ digest: 'sha256:abc' });
    expect(res.$typeName).toBe('google.protobuf.Empty');
    expect(deleted).toEqual(['sha256:abc']);
  });

  it('serves the Health service and several services on one server', async () => {
    const { channel } = await start((s) => {
      s.add(definitionOf(Health), { async check(req: { service: string }) { return { status: req.service === 'ok' ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING }; } });
      s.add(definitionOf(Version), { async version() { return { version: 'v2' }; } });
    });
    const ch = channel();
    expect((await clientOf(Health, ch).check({ service: 'ok' })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await clientOf(Health, ch).check({ service: 'x' })).status).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
    expect((await clientOf(Version, ch).version({})).version).toBe('v2');
  });

  it('answers 200 concurrent unary calls, each with its own answer', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const { channel } = await start((s) => s.add(definitionOf(Content), {
      async info(req: { digest: string }) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await sleep(20 + (Number(req.digest.slice(7)) % 7) * 5);
        inFlight--;
        return { info: { digest: req.digest, size: BigInt(req.digest.length * 1000 + Number(req.digest.slice(7))) } };
      },
    }));
    const client = clientOf(Content, channel());
    const results = await within(Promise.all(Array.from({ length: 200 }, (_, i) => client.info({ digest: `sha256:${i}` }))), 20_000, '200 calls');
    expect(results.map((r) => r.info?.digest)).toEqual(Array.from({ length: 200 }, (_, i) => `sha256:${i}`));
    expect(results.map((r) => r.info?.size)).toEqual(Array.from({ length: 200 }, (_, i) => BigInt(`sha256:${i}`.length * 1000 + i)));
    // They really ran at once, not one after another.
    expect(maxInFlight).toBeGreaterThan(50);
  });
});

describe('h2 server: beforeAnswer', () => {
  it('holds a unary answer until the promise it returns settles', async () => {
    const gate = deferred();
    const handled = deferred();
    let asked = 0;
    const { channel } = await start((s) => s.add(definitionOf(Version), {
      async version() { handled.resolve(); return { version: 'held' }; },
    }), silent, { beforeAnswer: () => { asked++; return gate.promise; } });
    let answered = false;
    const call = clientOf(Version, channel()).version({}).then((r) => { answered = true; return r; });
    await handled.promise;
    await sleep(50);
    expect(answered).toBe(false);
    gate.resolve();
    expect((await call).version).toBe('held');
    expect(asked).toBe(1);
  });

  it('is asked before every streamed message and before the final status, and lets answers go when it returns undefined', async () => {
    let asked = 0;
    const { channel } = await start((s) => s.add(definitionOf(Content), {
      async *read() { yield { offset: 0n, data: new Uint8Array([1]) }; yield { offset: 1n, data: new Uint8Array([2]) }; },
    }), silent, { beforeAnswer: () => { asked++; return undefined; } });
    const got: number[] = [];
    for await (const m of clientOf(Content, channel()).read({ digest: 'sha256:x' })) got.push(...m.data);
    expect(got).toEqual([1, 2]);
    expect(asked).toBe(3);
  });
});

describe('h2 server: errors', () => {
  const kinds = Object.keys(errorClasses) as ErrorKind[];

  async function errorServer(log: Logger = silent) {
    return start((s) => s.add(definitionOf(Content), {
      async info(req: { digest: string }): Promise<never> {
        const [what, ...rest] = req.digest.split(':');
        const text = rest.join(':');
        if (what === 'server') throw new ServerError(Status.PERMISSION_DENIED, text);
        if (what === 'plain') throw new Error(text);
        if (what === 'string') throw text; // a thrown non-Error
        throw new errorClasses[what as ErrorKind](text);
      },
    }), log);
  }

  it('maps every errdefs class to its gRPC code, and the client back to the same class', async () => {
    const { channel } = await errorServer();
    const ch = channel();
    const native = clientOf(Content, ch);
    const raw = createClient(definitionOf(Content), ch);
    for (const kind of kinds) {
      const thrown = new errorClasses[kind](`blob ${kind}`);
      const err = await rejection(native.info({ digest: `${kind}:blob ${kind}` }));
      // Conflict travels as FAILED_PRECONDITION, like containerd's, so it comes back as that.
      const expected = kind === 'Conflict' ? FailedPreconditionError : errorClasses[kind];
      expect(err, kind).toBeInstanceOf(expected);
      expect((err as Error).constructor, kind).toBe(expected);
      expect((err as Error).message, kind).toBe(new expected(thrown.message).message);
      const rawErr = await rejection(raw.info({ digest: `${kind}:blob ${kind}` }));
      expectClientError(rawErr, grpcCodeOf(kind), thrown.message);
    }
    // The ones the brief names, spelled out so a mapping table typo cannot hide behind the loop.
    for (const [cls, code] of [
      [NotFoundError, Status.NOT_FOUND],
      [AlreadyExistsError, Status.ALREADY_EXISTS],
      [InvalidArgumentError, Status.INVALID_ARGUMENT],
      [FailedPreconditionError, Status.FAILED_PRECONDITION],
      [UnavailableError, Status.UNAVAILABLE],
      [NotImplementedError, Status.UNIMPLEMENTED],
    ] as const) {
      const kind = (cls as unknown as { kind: ErrorKind }).kind;
      expectClientError(await rejection(raw.info({ digest: `${kind}:x` })), code);
      expect(await rejection(native.info({ digest: `${kind}:x` }))).toBeInstanceOf(cls);
    }
  });

  it('passes a ServerError through with its code and details; other throws are UNKNOWN and logged', async () => {
    const { log, lines } = capturingLogger();
    const { channel } = await errorServer(log);
    const ch = channel();
    const raw = createClient(definitionOf(Content), ch);
    expectClientError(await rejection(raw.info({ digest: 'server:no access' })), Status.PERMISSION_DENIED, 'no access');
    expect(lines).toEqual([]);
    expectClientError(await rejection(raw.info({ digest: 'plain:boom' })), Status.UNKNOWN, 'boom');
    expectClientError(await rejection(raw.info({ digest: 'string:bare' })), Status.UNKNOWN, 'bare');
    expect(lines.map((l) => l.msg)).toEqual(['unexpected error', 'unexpected error']);
    const native = await rejection(clientOf(Content, ch).info({ digest: 'plain:boom' }));
    expect((native as Error).constructor).toBe(UnknownError);
    expect((native as Error).message).toBe('boom: unknown');
  });

  it('keeps non-ASCII, "%" and control characters in error messages intact (grpc-message percent-encoding)', async () => {
    const { channel, path } = await errorServer();
    const ch = channel();
    const raw = createClient(definitionOf(Content), ch);
    const native = clientOf(Content, ch);
    const messages = [
      '100%',
      '%',
      '%25 is not a percent sign here, nor is %41 an A',
      '50% off, 100%% sure, %zz',
      'ünïcödé ✓ 漢字 😀',
      'tab\there, newline\nthere, cr\r',
      "#;/?:@&=+$,!*'()[]{}<>\"\\^`|~",
      'nul\u0000byte and \u007f del',
      '€%€',
      'x'.repeat(2000) + ' ✓',
    ];
    for (const m of messages) {
      expectClientError(await rejection(raw.info({ digest: `server:${m}` })), Status.PERMISSION_DENIED, m);
      const err = await rejection(native.info({ digest: `NotFound:${m}` }));
      expect(err).toBeInstanceOf(NotFoundError);
      expect((err as Error).message).toBe(`${m}: not found`);
    }
    // On the wire it is percent-encoded ASCII: '%' itself and every non-printable or non-ASCII byte.
    const wire = await rawCall(path, '/containerd.services.content.v1.Content/Info', [frame(infoRequest('server:100% ✓\n'))]);
    expect(wire.status).toBe(Status.PERMISSION_DENIED);
    expect(wire.headers['grpc-message']).toBe('100%25 %E2%9C%93%0A');
  });

  it('keeps leading and trailing spaces in error messages', async () => {
    const { channel } = await errorServer();
    const raw = createClient(definitionOf(Content), channel());
    for (const m of [' leading', 'trailing ', ' both ', '   ']) {
      expectClientError(await rejection(raw.info({ digest: `server:${m}` })), Status.PERMISSION_DENIED, m);
    }
  });

  it('answers UNIMPLEMENTED for an unknown method and an unknown service, and keeps serving', async () => {
    const { channel } = await start((s) => s.add(definitionOf(Version), { async version() { return { version: 'v1' }; } }));
    const ch = channel();
    const v = definitionOf(Version).version;
    const read = definitionOf(Content).read;
    const bogus = createClient({
      method: { ...v, path: '/containerd.services.version.v1.Version/NoSuchMethod' },
      service: { ...v, path: '/no.such.v1.Service/Version' },
      streaming: { ...read, path: '/no.such.v1.Service/Read' },
      content: definitionOf(Content).info,
    }, ch);
    expectClientError(await rejection(bogus.method({})), Status.UNIMPLEMENTED, /NoSuchMethod/);
    expectClientError(await rejection(bogus.service({})), Status.UNIMPLEMENTED, /no\.such\.v1\.Service\/Version/);
    expectClientError(await rejection((async () => { for await (const _ of bogus.streaming({ digest: 'x' })) { /* none */ } })()), Status.UNIMPLEMENTED);
    expectClientError(await rejection(bogus.content({ digest: 'x' })), Status.UNIMPLEMENTED, /Content\/Info/);
    // Through Flotilla's client, the errdefs class.
    expect(await rejection(clientOf(Content, ch).info({ digest: 'x' }))).toBeInstanceOf(NotImplementedError);
    expect((await clientOf(Version, ch).version({})).version).toBe('v1');
  });

  it('answers a refused service\'s every method with its own Unimplemented message', async () => {
    const { server, channel } = await start((s) => s.add(definitionOf(Version), { async version() { return { version: 'v1' }; } }));
    server.refuseService('gone.v1.Service', 'gone.v1 was removed; use now.v2');
    const ch = channel();
    const v = definitionOf(Version).version;
    const bogus = createClient({
      a: { ...v, path: '/gone.v1.Service/Version' },
      b: { ...v, path: '/gone.v1.Service/Anything' },
      other: { ...v, path: '/gone.v1.Other/Version' },
    }, ch);
    expectClientError(await rejection(bogus.a({})), Status.UNIMPLEMENTED, 'gone.v1 was removed; use now.v2');
    expectClientError(await rejection(bogus.b({})), Status.UNIMPLEMENTED, 'gone.v1 was removed; use now.v2');
    expectClientError(await rejection(bogus.other({})), Status.UNIMPLEMENTED, /unknown method/);
    expect((await clientOf(Version, ch).version({})).version).toBe('v1');
  });

  it('sends error trailers with content-type application/grpc and HTTP 200, trailers-only', async () => {
    const { path } = await errorServer();
    const res = await rawCall(path, '/containerd.services.content.v1.Content/Info', [frame(infoRequest('NotFound:x'))]);
    expect(res.headers[':status']).toBe(200);
    expect(res.headers['content-type']).toBe('application/grpc');
    expect(res.status).toBe(Status.NOT_FOUND);
    expect(res.message).toBe('x: not found');
    expect(res.messages).toEqual([]);
  });
});

describe('h2 server: streaming', () => {
  it('streams 200 messages of 1 MiB to the client intact and in order', async () => {
    const sent: string[] = [];
    const total = createHash('sha256');
    const { channel } = await start((s) => s.add(definitionOf(Content), {
      async *read(req: { digest: string }) {
        expect(req.digest).toBe('sha256:big');
        for (let i = 0; i < 200; i++) {
          const data = randomBytes(MiB);
          data.writeUInt32BE(i, 0);
          total.update(data);
          sent.push(sha256(data));
          yield { offset: BigInt(i) * BigInt(MiB), data };
        }
      },
    }));
    const received = createHash('sha256');
    const offsets: bigint[] = [];
    const each: string[] = [];
    let bytes = 0;
    await within((async () => {
      for await (const res of clientOf(Content, channel()).read({ digest: 'sha256:big' })) {
        offsets.push(res.offset);
        each.push(sha256(res.data));
        received.update(res.data);
        bytes += res.data.length;
      }
    })(), 60_000, '200 MiB stream');
    expect(bytes).toBe(200 * MiB);
    expect(offsets).toEqual(Array.from({ length: 200 }, (_, i) => BigInt(i) * BigInt(MiB)));
    expect(each).toEqual(sent);
    expect(received.digest('hex')).toBe(total.digest('hex'));
  });

  it('streams 20000 tiny messages to the client in order', async () => {
    const { channel } = await start((s) => s.add(definitionOf(Content), {
      async *list() {
        for (let i = 0; i < 20_000; i++) yield { info: [{ digest: `sha256:${i}`, size: BigInt(i) }] };
      },
    }));
    const got: string[] = [];
    for await (const res of clientOf(Content, channel()).list({})) {
      expect(res.info).toHaveLength(1);
      expect(res.info[0]!.size).toBe(BigInt(got.length));
      got.push(res.info[0]!.digest);
    }
    expect(got).toEqual(Array.from({ length: 20_000 }, (_, i) => `sha256:${i}`));
  });

  it('carries a message close to 16 MiB both ways (split across many DATA frames)', async () => {
    const { channel } = await start((s) => s.add(Raw, rawImpl()));
    const big = randomBytes(MAX_MESSAGE_BYTES - 1000);
    const res = await within(createClient(Raw, channel()).echo(big), 30_000, 'echo');
    expect(res.length).toBe(big.length);
    expect(sha256(res)).toBe(sha256(big));
  });

  it('receives a client stream of 1000 messages in order, and an empty client stream', async () => {
    const calls = { echo: 0, collected: [] as Bytes[][] };
    const { channel } = await start((s) => s.add(Raw, rawImpl(calls)));
    const client = createClient(Raw, channel());
    const msgs = Array.from({ length: 1000 }, (_, i) => Buffer.concat([u32(i), randomBytes(i % 3 === 0 ? 0 : (i * 37) % 2000)]));
    async function* requests() { for (const m of msgs) yield m; }
    const res = Buffer.from(await within(client.collect(requests()), 20_000, 'collect'));
    expect(res.readUInt32BE(0)).toBe(1000);
    expect(res.subarray(4).toString('hex')).toBe(sha256(...msgs));
    expect(calls.collected[0]!.map((m) => Buffer.from(m).readUInt32BE(0))).toEqual(msgs.map((_, i) => i));

    const empty = Buffer.from(await client.collect((async function* () { /* nothing */ })()));
    expect(empty.readUInt32BE(0)).toBe(0);
    expect(empty.subarray(4).toString('hex')).toBe(sha256());
  });

  it('receives zero-length messages in a client stream', async () => {
    const calls = { echo: 0, collected: [] as Bytes[][] };
    const { channel } = await start((s) => s.add(Raw, rawImpl(calls)));
    const res = Buffer.from(await createClient(Raw, channel()).collect((async function* () {
      yield new Uint8Array(0); yield Buffer.from('a'); yield new Uint8Array(0);
    })()));
    expect(res.readUInt32BE(0)).toBe(3);
    expect(calls.collected[0]!.map((m) => Buffer.from(m).toString())).toEqual(['', 'a', '']);
  });

  it('answers a client-streaming handler that stops reading after the first message', async () => {
    const first = await start((s) => s.add(Raw, rawImpl()));
    const client = createClient(Raw, first.channel());
    const res = await within(client.first((async function* () {
      for (let i = 0; i < 100; i++) yield Buffer.concat([u32(i), Buffer.alloc(1000, i)]);
    })()), 10_000, 'first');
    expect(Buffer.from(res).readUInt32BE(0)).toBe(0);
    expect(res.length).toBe(1004);
    // And a handler that returns without reading at all.
    const second = await start((s) => s.add(Raw, { ...rawImpl(), async first() { return Buffer.from('skip'); } }));
    const res2 = await within(createClient(Raw, second.channel()).first((async function* () {
      for (let i = 0; i < 100; i++) yield Buffer.alloc(10_000, i);
    })()), 10_000, 'first without reading');
    expect(Buffer.from(res2).toString()).toBe('skip');
    // Neither call left a stream open: a graceful shutdown, which waits for streams, completes.
    await within(Promise.all([first.server.shutdown(), second.server.shutdown()]), 5000, 'shutdown after early returns');
  });

  it('runs a bidi stream (Content.Write) of 2000 messages, echoing offsets in order', async () => {
    const { channel } = await start((s) => s.add(definitionOf(Content), {
      async *write(reqs: AsyncIterable<{ action: WriteAction; ref: string; offset: bigint; data: Uint8Array }>) {
        for await (const req of reqs) {
          yield { action: req.action, offset: req.offset + BigInt(req.data.length), digest: `sha256:${sha256(req.data)}`, total: BigInt(req.ref.length) };
        }
      },
    }));
    const chunks = Array.from({ length: 2000 }, (_, i) => randomBytes((i * 131) % 700));
    const expected: { offset: bigint; digest: string }[] = [];
    let off = 0n;
    for (const c of chunks) { off += BigInt(c.length); expected.push({ offset: off, digest: `sha256:${sha256(c)}` }); }
    async function* requests() {
      let o = 0n;
      for (const [i, data] of chunks.entries()) {
        yield { action: i === chunks.length - 1 ? WriteAction.COMMIT : WriteAction.WRITE, ref: 'ref-1', offset: o, data };
        o += BigInt(data.length);
      }
    }
    const got: { offset: bigint; digest: string; action: WriteAction; total: bigint }[] = [];
    await within((async () => {
      for await (const res of clientOf(Content, channel()).write(requests())) got.push(res);
    })(), 30_000, 'bidi');
    expect(got.map(({ offset, digest }) => ({ offset, digest }))).toEqual(expected);
    expect(got.slice(0, -1).every((r) => r.action === WriteAction.WRITE && r.total === 5n)).toBe(true);
    expect(got.at(-1)!.action).toBe(WriteAction.COMMIT);
  });

  it('runs a bidi stream in lockstep: each request sent only after the previous response arrived', async () => {
    const { channel } = await start((s) => s.add(definitionOf(Content), {
      async *write(reqs: AsyncIterable<{ offset: bigint; data: Uint8Array }>) {
        for await (const req of reqs) yield { offset: req.offset + BigInt(req.data.length) };
      },
    }));
    let received = 0;
    const waiters = new Map<number, () => void>();
    const waitFor = (n: number) => (received >= n ? Promise.resolve() : new Promise<void>((r) => waiters.set(n, r)));
    async function* requests() {
      for (let i = 0; i < 200; i++) {
        yield { action: WriteAction.WRITE, ref: 'r', offset: BigInt(i * 10), data: Buffer.alloc(10, i) };
        await waitFor(i + 1);
      }
    }
    const offsets: bigint[] = [];
    await within((async () => {
      for await (const res of clientOf(Content, channel()).write(requests())) {
        offsets.push(res.offset);
        received++;
        waiters.get(received)?.();
      }
    })(), 20_000, 'lockstep bidi');
    expect(offsets).toEqual(Array.from({ length: 200 }, (_, i) => BigInt(i * 10 + 10)));
  });
});

describe('h2 server: framing on the wire', () => {
  it('reads many messages from one DATA frame and a message split over many writes', async () => {
    const { path } = await start((s) => s.add(Raw, rawImpl()));
    const msgs = Array.from({ length: 1000 }, (_, i) => Buffer.concat([u32(i), Buffer.alloc(i % 5, i)]));
    const one = await rawCall(path, Raw.collect.path, [Buffer.concat(msgs.map((m) => frame(m)))]);
    expect(one.status).toBe(Status.OK);
    expect(one.messages).toHaveLength(1);
    expect(one.messages[0]!.readUInt32BE(0)).toBe(1000);
    expect(one.messages[0]!.subarray(4).toString('hex')).toBe(sha256(...msgs));

    const payload = randomBytes(3000);
    const wire = frame(payload);
    const pieces: Buffer[] = [];
    for (let at = 0, n = 1; at < wire.length; at += n, n = (n % 97) + 1) pieces.push(wire.subarray(at, at + n));
    const split = await rawCall(path, Raw.echo.path, pieces);
    expect(split.status).toBe(Status.OK);
    expect(split.messages).toHaveLength(1);
    expect(split.messages[0]!.equals(payload)).toBe(true);
  });

  it('refuses compressed messages and a grpc-encoding it does not offer', async () => {
    const { path } = await start((s) => s.add(Raw, rawImpl()));
    const compressed = frame(Buffer.from('abc'));
    compressed[0] = 1;
    for (const method of [Raw.echo.path, Raw.collect.path]) {
      const res = await rawCall(path, method, [compressed]);
      expect(res.status, method).toBe(Status.UNIMPLEMENTED);
      expect(res.message, method).toMatch(/compressed/);
    }
    const gz = await rawCall(path, Raw.echo.path, [frame(Buffer.from('abc'))], { 'grpc-encoding': 'gzip' });
    expect(gz.status).toBe(Status.UNIMPLEMENTED);
    expect(gz.message).toMatch(/gzip/);
    const identityOk = await rawCall(path, Raw.echo.path, [frame(Buffer.from('abc'))], { 'grpc-encoding': 'identity' });
    expect(identityOk.status).toBe(Status.OK);
    expect(identityOk.messages.map(String)).toEqual(['abc']);
  });

  it('refuses a unary request of two messages, none, or a truncated one', async () => {
    const calls = { echo: 0, collected: [] as Bytes[][] };
    const { path } = await start((s) => s.add(Raw, rawImpl(calls)));
    const two = await rawCall(path, Raw.echo.path, [frame(Buffer.from('a')), frame(Buffer.from('b'))]);
    expect(two.status).toBe(Status.INTERNAL);
    const none = await rawCall(path, Raw.echo.path, []);
    expect(none.status).toBe(Status.INTERNAL);
    const cut = await rawCall(path, Raw.echo.path, [frame(Buffer.from('abcdef')).subarray(0, 8)]);
    expect(cut.status).toBe(Status.INTERNAL);
    const truncatedStream = await rawCall(path, Raw.collect.path, [frame(Buffer.from('a')), frame(Buffer.from('abcdef')).subarray(0, 8)]);
    expect(truncatedStream.status).toBe(Status.INTERNAL);
    expect(calls.echo).toBe(0);
  });
});

describe('h2 server: message size limit', () => {
  const big = { 'grpc.max_send_message_length': 64 * MiB, 'grpc.max_receive_message_length': 64 * MiB };

  it('accepts a request of exactly 16 MiB, refuses one byte more with RESOURCE_EXHAUSTED and stays up', async () => {
    const calls = { echo: 0, collected: [] as Bytes[][] };
    const { channel } = await start((s) => {
      s.add(Raw, rawImpl(calls));
      s.add(definitionOf(Version), { async version() { return { version: 'still here' }; } });
      s.add(definitionOf(Content), { async info() { throw new Error('must not be called'); } });
    });
    const ch = channel(big);
    const raw = createClient(Raw, ch);
    const exact = randomBytes(MAX_MESSAGE_BYTES);
    const echoed = await within(raw.echo(exact), 30_000, 'exact');
    expect(sha256(echoed)).toBe(sha256(exact));
    expect(calls.echo).toBe(1);

    expectClientError(await within(rejection(raw.echo(randomBytes(MAX_MESSAGE_BYTES + 1))), 30_000, 'oversize'), Status.RESOURCE_EXHAUSTED);
    expectClientError(await within(rejection(createClient(definitionOf(Content), ch).info({ digest: 'x'.repeat(17 * MiB) })), 30_000, 'oversize info'), Status.RESOURCE_EXHAUSTED);
    expect(calls.echo).toBe(1);
    expect((await createClient(definitionOf(Version), ch).version({})).version).toBe('still here');
    // A fresh connection works too.
    expect((await clientOf(Version, channel()).version({})).version).toBe('still here');
  });

  it('refuses an oversize message inside a client stream with RESOURCE_EXHAUSTED', async () => {
    const calls = { echo: 0, collected: [] as Bytes[][] };
    const { server, channel } = await start((s) => s.add(Raw, rawImpl(calls)));
    const raw = createClient(Raw, channel(big));
    const err = await within(rejection(raw.collect((async function* () {
      yield Buffer.from('ok');
      yield randomBytes(MAX_MESSAGE_BYTES + 1);
      yield Buffer.from('never');
    })())), 30_000, 'oversize stream');
    expectClientError(err, Status.RESOURCE_EXHAUSTED);
    expect(calls.collected).toEqual([]);
    const res = Buffer.from(await raw.collect((async function* () { yield Buffer.from('fine'); })()));
    expect(res.readUInt32BE(0)).toBe(1);
    await within(server.shutdown(), 5000, 'shutdown after a refused stream');
  });
});

describe('h2 server: deadlines and cancellation', () => {
  function slowVersion(observed: { aborted: Deferred<boolean>; started: Deferred<void> }) {
    return {
      async version(_req: unknown, ctx: ServerCallContext) {
        observed.started.resolve();
        const aborted = await abortedOrAfter(ctx.signal, 5000);
        observed.aborted.resolve(aborted);
        return { version: aborted ? 'aborted' : 'slow' };
      },
    };
  }

  it('a client deadline shorter than the handler gives DEADLINE_EXCEEDED and aborts ctx.signal', async () => {
    const observed = { aborted: deferred<boolean>(), started: deferred() };
    const { path } = await start((s) => s.add(definitionOf(Version), slowVersion(observed)));
    const t0 = Date.now();
    const { err } = await within(grpcJsUnary(path, '/containerd.services.version.v1.Version/Version', Buffer.alloc(0), new Date(Date.now() + 300)), 5000, 'deadline call');
    expect(err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(await within(observed.aborted.promise, 3000, 'server signal')).toBe(true);
  });

  it('enforces grpc-timeout on its own, when the client does not', async () => {
    const observed = { aborted: deferred<boolean>(), started: deferred() };
    const { path } = await start((s) => s.add(definitionOf(Version), slowVersion(observed)));
    const t0 = Date.now();
    const res = await within(rawCall(path, '/containerd.services.version.v1.Version/Version', [frame(new Uint8Array(0))], { 'grpc-timeout': '200m' }), 5000, 'raw deadline');
    expect(res.status).toBe(Status.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(await within(observed.aborted.promise, 3000, 'server signal')).toBe(true);
  });

  it('honours a long deadline (beyond setTimeout\'s 24.8-day limit) instead of expiring at once', async () => {
    const { path } = await start((s) => s.add(definitionOf(Version), {
      async version(_req: unknown, ctx: ServerCallContext) {
        await sleep(100);
        return { version: ctx.signal.aborted ? 'aborted' : 'ok' };
      },
    }));
    const method = '/containerd.services.version.v1.Version/Version';
    const { err, res } = await within(grpcJsUnary(path, method, Buffer.alloc(0), new Date(Date.now() + 30 * 24 * 3600 * 1000)), 5000, 'long deadline');
    expect(err).toBeNull();
    expect(res!.subarray(2).toString()).toBe('ok');
    for (const timeout of ['99999999H', '99999999M', '99999999S', '3000000S', '1S', '99999999u']) {
      const raw = await within(rawCall(path, method, [frame(new Uint8Array(0))], { 'grpc-timeout': timeout }), 5000, timeout);
      expect(raw.status, timeout).toBe(Status.OK);
      expect(raw.messages.map((m) => m.subarray(2).toString()), timeout).toEqual(['ok']);
    }
  });

  it('aborting the client\'s signal aborts ctx.signal on the server', async () => {
    const observed = { aborted: deferred<boolean>(), started: deferred() };
    const { channel } = await start((s) => s.add(definitionOf(Version), slowVersion(observed)));
    const ac = new AbortController();
    const call = clientOf(Version, channel()).version({}, { signal: ac.signal });
    await within(observed.started.promise, 5000, 'handler start');
    ac.abort();
    const err = await within(rejection(call), 3000, 'client abort');
    expect(isAbortError(err)).toBe(true);
    expect(await within(observed.aborted.promise, 3000, 'server signal')).toBe(true);
  });

  it('a canceled unary call whose handler ignores the signal is not logged as an unexpected error', async () => {
    const { log, lines } = capturingLogger();
    const started = deferred();
    const done = deferred<boolean>();
    const { channel } = await start((s) => s.add(definitionOf(Version), {
      async version(_req: unknown, ctx: ServerCallContext) {
        started.resolve();
        await sleep(300);
        done.resolve(ctx.signal.aborted);
        return { version: 'late' };
      },
    }), log);
    const ac = new AbortController();
    const call = clientOf(Version, channel()).version({}, { signal: ac.signal });
    await within(started.promise, 5000, 'handler start');
    ac.abort();
    expect(isAbortError(await rejection(call))).toBe(true);
    expect(await within(done.promise, 3000, 'handler end')).toBe(true);
    await sleep(100);
    expect(lines).toEqual([]);
  });

  it('a server stream the client abandons ends its handler, even one that ignores the signal', async () => {
    const { log, lines } = capturingLogger();
    const finalized = deferred<boolean>();
    let yielded = 0;
    let signal: AbortSignal | undefined;
    const { channel } = await start((s) => s.add(definitionOf(Content), {
      async *read(_req: unknown, ctx: ServerCallContext) {
        signal = ctx.signal;
        try {
          for (;;) { yielded++; yield { offset: BigInt(yielded), data: Buffer.alloc(256 * 1024, yielded) }; }
        } finally {
          finalized.resolve(ctx.signal.aborted);
        }
      },
    }), log);
    let got = 0;
    for await (const res of clientOf(Content, channel()).read({ digest: 'x' })) {
      expect(res.offset).toBe(BigInt(++got));
      if (got === 5) break;
    }
    expect(await within(finalized.promise, 5000, 'handler finally')).toBe(true);
    expect(signal?.aborted).toBe(true);
    const after = yielded;
    await sleep(200);
    expect(yielded).toBe(after);
    expect(lines).toEqual([]);
  });

  it('a server stream past its deadline stops pulling from its handler', async () => {
    const finalized = deferred<boolean>();
    let yielded = 0;
    const { path } = await start((s) => s.add(definitionOf(Content), {
      async *read(_req: unknown, ctx: ServerCallContext) {
        try {
          for (;;) { yielded++; await sleep(5); yield { offset: BigInt(yielded) }; }
        } finally {
          finalized.resolve(ctx.signal.aborted);
        }
      },
    }));
    const res = await within(rawCall(path, '/containerd.services.content.v1.Content/Read', [frame(new Uint8Array(0))], { 'grpc-timeout': '100m' }), 5000, 'raw read');
    expect(res.status).toBe(Status.DEADLINE_EXCEEDED);
    expect(await within(finalized.promise, 3000, 'handler finally')).toBe(true);
    const after = yielded;
    await sleep(100);
    expect(yielded).toBe(after);
  });

  it('aborting a bidi call aborts ctx.signal and ends the handler', async () => {
    const { log, lines } = capturingLogger();
    const finalized = deferred<boolean>();
    const firstSeen = deferred();
    const { channel } = await start((s) => s.add(definitionOf(Content), {
      async *write(reqs: AsyncIterable<{ offset: bigint }>, ctx: ServerCallContext) {
        try {
          for await (const req of reqs) { firstSeen.resolve(); yield { offset: req.offset }; }
        } finally {
          // grpc-js half-closes before it resets, so the request stream may end cleanly just before the
          // cancellation arrives; the signal must be aborted by then or very soon after.
          finalized.resolve(await abortedOrAfter(ctx.signal, 3000));
        }
      },
    }), log);
    const ac = new AbortController();
    async function* requests() {
      yield { action: WriteAction.WRITE, ref: 'r', offset: 1n };
      await new Promise((r) => setTimeout(r, 10_000).unref());
    }
    const err = await within(rejection((async () => {
      for await (const _ of clientOf(Content, channel()).write(requests(), { signal: ac.signal })) {
        await firstSeen.promise;
        ac.abort();
      }
    })()), 5000, 'bidi abort');
    expect(isAbortError(err)).toBe(true);
    expect(await within(finalized.promise, 5000, 'handler finally')).toBe(true);
    await sleep(100);
    expect(lines).toEqual([]);
  });
});

describe('h2 server: metadata', () => {
  it('delivers custom string and -bin metadata to ctx.metadata, without transport headers', async () => {
    let seen: Metadata | undefined;
    const { channel } = await start((s) => s.add(definitionOf(Version), {
      async version(_req: unknown, ctx: ServerCallContext) { seen = ctx.metadata; return {}; },
    }));
    const bin1 = new Uint8Array([0, 1, 2, 250, 255, 0x2c, 0x3d]);
    const bin2 = new Uint8Array([9, 8, 7]);
    const md = Metadata({ 'x-custom': 'hello, world; 100% = ascii ~!', 'containerd-namespace': 'ns1' });
    md.set('x-trace-bin', bin1);
    md.append('x-trace-bin', bin2);
    md.set('x-empty-bin', new Uint8Array(0));
    await clientOf(Version, channel()).version({}, { metadata: md });
    expect(seen).toBeDefined();
    expect(seen!.get('x-custom')).toBe('hello, world; 100% = ascii ~!');
    expect(seen!.get('containerd-namespace')).toBe('ns1');
    expect(seen!.getAll('x-trace-bin').map((b) => Buffer.from(b).toString('hex'))).toEqual([Buffer.from(bin1).toString('hex'), Buffer.from(bin2).toString('hex')]);
    expect(seen!.getAll('x-trace-bin').every((b) => b instanceof Uint8Array)).toBe(true);
    for (const key of ['content-type', 'te', 'grpc-timeout', 'grpc-accept-encoding', 'user-agent', ':path', ':authority']) expect(seen!.has(key), key).toBe(false);
    expect([...seen!].map(([k]) => k).filter((k) => k.startsWith('x-') || k === 'containerd-namespace').sort()).toEqual(['containerd-namespace', 'x-custom', 'x-empty-bin', 'x-trace-bin']);
  });

  it('sends header and trailer metadata set by a unary handler', async () => {
    const { channel } = await start((s) => s.add(definitionOf(Version), {
      async version(_req: unknown, ctx: ServerCallContext) {
        ctx.header.set('x-reply', 'header value');
        ctx.header.set('x-reply-bin', new Uint8Array([0, 255, 1]));
        ctx.trailer.set('x-done', 'trailer value');
        ctx.trailer.set('x-done-bin', new Uint8Array([7, 7, 0]));
        return { version: 'v' };
      },
    }));
    let header: Metadata | undefined;
    let trailer: Metadata | undefined;
    const res = await clientOf(Version, channel()).version({}, { onHeader: (h) => { header = h; }, onTrailer: (t) => { trailer = t; } });
    expect(res.version).toBe('v');
    expect(header?.get('x-reply')).toBe('header value');
    expect(Buffer.from(header!.get('x-reply-bin')!).toString('hex')).toBe('00ff01');
    expect(header?.has('x-done')).toBe(false);
    expect(trailer?.get('x-done')).toBe('trailer value');
    expect(Buffer.from(trailer!.get('x-done-bin')!).toString('hex')).toBe('070700');
    expect(trailer?.has('x-reply')).toBe(false);
  });

  it('sends trailer metadata with an error, and header and trailer metadata on a server stream', async () => {
    const { channel } = await start((s) => s.add(definitionOf(Content), {
      async info(_req: unknown, ctx: ServerCallContext) {
        ctx.trailer.set('x-why', 'missing');
        throw new NotFoundError('blob');
      },
      async *read(_req: unknown, ctx: ServerCallContext) {
        ctx.header.set('x-stream', 'start');
        ctx.sendHeader();
        for (let i = 0; i < 3; i++) yield { offset: BigInt(i) };
        ctx.trailer.set('x-count', '3');
      },
    }));
    const client = clientOf(Content, channel());
    let trailer: Metadata | undefined;
    const err = await rejection(client.info({ digest: 'x' }, { onTrailer: (t) => { trailer = t; } }));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(trailer?.get('x-why')).toBe('missing');

    let header: Metadata | undefined;
    let streamTrailer: Metadata | undefined;
    const offsets: bigint[] = [];
    for await (const r of client.read({ digest: 'x' }, { onHeader: (h) => { header = h; }, onTrailer: (t) => { streamTrailer = t; } })) {
      expect(header?.get('x-stream')).toBe('start');
      offsets.push(r.offset);
    }
    expect(offsets).toEqual([0n, 1n, 2n]);
    expect(streamTrailer?.get('x-count')).toBe('3');
  });
});

describe('h2 server: shutdown', () => {
  it('shutdown() lets an in-flight call finish, then refuses new calls', async () => {
    const started = deferred();
    const { server, channel } = await start((s) => s.add(definitionOf(Version), {
      async version(_req: unknown, ctx: ServerCallContext) {
        started.resolve();
        await sleep(300);
        return { version: ctx.signal.aborted ? 'aborted' : 'finished' };
      },
    }));
    const ch = channel();
    const call = clientOf(Version, ch).version({});
    await within(started.promise, 5000, 'handler start');
    let shutDown = false;
    const stopping = server.shutdown().then(() => { shutDown = true; });
    expect((await within(call, 5000, 'in-flight call')).version).toBe('finished');
    await within(stopping, 5000, 'shutdown');
    expect(shutDown).toBe(true);
    expectClientError(await within(rejection(createClient(definitionOf(Version), channel()).version({})), 5000, 'call after shutdown'), Status.UNAVAILABLE);
  });

  it('after forceShutdown an in-flight call fails UNAVAILABLE, its handler is aborted, and new calls fail UNAVAILABLE', async () => {
    const observed = { aborted: deferred<boolean>(), started: deferred() };
    const { server, channel } = await start((s) => s.add(definitionOf(Version), {
      async version(_req: unknown, ctx: ServerCallContext) {
        observed.started.resolve();
        observed.aborted.resolve(await abortedOrAfter(ctx.signal, 5000));
        return { version: 'late' };
      },
    }));
    const ch = channel();
    const call = createClient(definitionOf(Version), ch).version({});
    await within(observed.started.promise, 5000, 'handler start');
    server.forceShutdown();
    expectClientError(await within(rejection(call), 5000, 'in-flight call'), Status.UNAVAILABLE);
    expect(await within(observed.aborted.promise, 3000, 'server signal')).toBe(true);
    expectClientError(await within(rejection(createClient(definitionOf(Version), ch).version({})), 5000, 'call after'), Status.UNAVAILABLE);
    expect(await within(rejection(clientOf(Version, channel()).version({})), 5000, 'native call after')).toBeInstanceOf(UnavailableError);
  });
});
