// Wire compatibility with containerd, judged by the real client: Debian's `ctr` (containerd 1.6.20, gogo
// protobuf) is pointed at a bare gRPC server that speaks only bytes. Each request ctr sends is decoded with
// our generated schemas, which must account for every byte (no unknown fields, and re-encoding gives the same
// bytes back), and must put the values ctr was told to send into the fields we name. The answers are encoded
// with our schemas too, and ctr printing them back proves the response side.
//
// The server is not Flotilla: it is a recorder, so a mismatch here is a mismatch in proto/, nowhere else.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { reflect, type ReflectMessage } from '@bufbuild/protobuf/reflect';
import { anyPack, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Version } from '@flotilla/proto/containerd/services/version/v1/version_pb';
import { Introspection } from '@flotilla/proto/containerd/services/introspection/v1/introspection_pb';
import { Namespaces } from '@flotilla/proto/containerd/services/namespaces/v1/namespace_pb';
import { Leases } from '@flotilla/proto/containerd/services/leases/v1/leases_pb';
import { Content } from '@flotilla/proto/containerd/services/content/v1/content_pb';
import { Images } from '@flotilla/proto/containerd/services/images/v1/images_pb';
import { Containers } from '@flotilla/proto/containerd/services/containers/v1/containers_pb';
import { Snapshots, Kind } from '@flotilla/proto/containerd/services/snapshots/v1/snapshots_pb';
import { Tasks } from '@flotilla/proto/containerd/services/tasks/v1/tasks_pb';
import { Events } from '@flotilla/proto/containerd/services/events/v1/events_pb';
import { Diff } from '@flotilla/proto/containerd/services/diff/v1/diff_pb';
import { Transfer } from '@flotilla/proto/containerd/services/transfer/v1/transfer_pb';
import { Streaming } from '@flotilla/proto/containerd/services/streaming/v1/streaming_pb';
import { Controller, Store } from '@flotilla/proto/containerd/services/sandbox/v1/sandbox_pb';
import { Health } from '@flotilla/proto/grpc/health/v1/health_pb';
import { Status as TaskStatus } from '@flotilla/proto/containerd/types/task/task_pb';
import { NamespaceCreateSchema } from '@flotilla/proto/containerd/events/namespace_pb';
import { run, waitFor, type ExecResult } from './support/exec.js';

// ---------------------------------------------------------------------------------------------------------
// The recording server

/** One request as it arrived: which method, the message bytes untouched, and the namespace header. */
interface Captured {
  path: string;
  bytes: Uint8Array;
  /** Every value of `containerd-namespace`: containerd reads exactly one, so a list makes doubles visible. */
  namespace: string[];
}

type Failure = { code: grpc.status; details: string };
/** What the server does with a call: messages to send (one for unary), a gRPC error, or keep a stream open. */
type Reply = Uint8Array[] | Failure | 'hold';

const captured: Captured[] = [];
const answers = new Map<string, (bytes: Uint8Array) => Reply>();
/** Server streams answered with 'hold' (events), so a test can write into them later. */
const held = new Map<string, grpc.ServerWritableStream<Buffer, Buffer>>();

// Every service our protos declare, so a call ctr makes that a test did not expect is still recorded (and
// answered Unimplemented) rather than vanishing into grpc-js's unknown-service reply.
const services = [Version, Introspection, Namespaces, Leases, Content, Images, Containers, Snapshots, Tasks, Events, Diff, Transfer, Streaming, Store, Controller, Health];

const pathOf = (m: DescMethod): string => `/${m.parent.typeName}/${m.name}`;
// grpc-js frames what the serializer returns with Buffer#copy, so answers must be Buffers, not Uint8Arrays.
const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const unanswered = (path: string): Failure => ({ code: grpc.status.UNIMPLEMENTED, details: `wire-compat: no answer for ${path}` });

function record(path: string, bytes: Uint8Array, metadata: grpc.Metadata): void {
  captured.push({ path, bytes: new Uint8Array(bytes), namespace: metadata.get('containerd-namespace').map(String) });
}

function replyFor(path: string, bytes: Uint8Array): Reply {
  const fn = answers.get(path);
  if (!fn) return unanswered(path);
  // A throwing answer becomes ctr's error message, and so the failing test's, instead of a crashed handler.
  try {
    return fn(bytes);
  } catch (err) {
    return { code: grpc.status.INTERNAL, details: `wire-compat: ${String(err)}` };
  }
}

/** The definition and handlers for one service: identity codecs, so the handlers see and send raw bytes. */
function rawService(service: (typeof services)[number]): [grpc.ServiceDefinition, grpc.UntypedServiceImplementation] {
  const def: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  const impl: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods as readonly DescMethod[]) {
    const path = pathOf(method);
    const kind = method.methodKind;
    def[method.name] = {
      path,
      requestStream: kind === 'client_streaming' || kind === 'bidi_streaming',
      responseStream: kind === 'server_streaming' || kind === 'bidi_streaming',
      requestSerialize: asBuffer,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: asBuffer,
      responseDeserialize: (b: Buffer) => b,
      originalName: method.localName,
    };
    if (kind === 'unary') {
      impl[method.name] = ((call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
        record(path, call.request, call.metadata);
        const reply = replyFor(path, call.request);
        // 'hold' only makes sense for a stream; a unary call told to hold is a test bug, so it fails loudly.
        if (reply === 'hold' || !Array.isArray(reply)) return done(reply === 'hold' ? unanswered(path) : reply);
        done(null, asBuffer(reply[0] ?? new Uint8Array()));
      }) as grpc.handleUnaryCall<Buffer, Buffer>;
    } else if (kind === 'server_streaming') {
      impl[method.name] = ((call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        record(path, call.request, call.metadata);
        const reply = replyFor(path, call.request);
        if (reply === 'hold') return void held.set(path, call);
        if (!Array.isArray(reply)) return void call.emit('error', reply);
        for (const msg of reply) call.write(asBuffer(msg));
        call.end();
      }) as grpc.handleServerStreamingCall<Buffer, Buffer>;
    } else {
      // No command under test streams requests; record the attempt (with no bytes) so it shows up in the call
      // list and fails the test that did not expect it.
      impl[method.name] = ((call: grpc.ServerDuplexStream<Buffer, Buffer>, done?: grpc.sendUnaryData<Buffer>) => {
        record(path, new Uint8Array(), call.metadata);
        if (done) done(unanswered(path));
        else call.emit('error', unanswered(path));
      }) as grpc.UntypedHandleCall;
    }
  }
  return [def, impl];
}

/** Answer a method with messages built from our schemas; `fn` sees the decoded request. */
function answer<M extends DescMethod>(
  method: M,
  fn: (req: MessageShape<M['input']>) => M['methodKind'] extends 'server_streaming' ? MessageInitShape<M['output']>[] : MessageInitShape<M['output']>,
): void {
  answers.set(pathOf(method), (bytes) => {
    const out = fn(fromBinary(method.input, bytes) as MessageShape<M['input']>) as unknown;
    const msgs = (method.methodKind === 'server_streaming' ? out : [out]) as MessageInitShape<DescMessage>[];
    return msgs.map((m) => toBinary(method.output, create(method.output, m)));
  });
}

function refuse(method: DescMethod, code: grpc.status, details: string): void {
  answers.set(pathOf(method), () => ({ code, details }));
}

function hold(method: DescMethod): void {
  answers.set(pathOf(method), () => 'hold');
}

// ---------------------------------------------------------------------------------------------------------
// Checking what was captured

/** Every unknown field in a decoded message tree, named by where it sits; nested, repeated and map values included. */
function unknownFields(msg: ReflectMessage, at: string = msg.desc.typeName): string[] {
  const found = (msg.getUnknown() ?? []).map((u) => `${at}: unknown field #${u.no} (wire type ${u.wireType})`);
  for (const field of msg.fields) {
    if (!msg.isSet(field)) continue;
    const here = `${at}.${field.name}`;
    if (field.fieldKind === 'message') {
      found.push(...unknownFields(msg.get(field), here));
    } else if (field.fieldKind === 'list' && field.listKind === 'message') {
      let i = 0;
      for (const item of msg.get(field)) found.push(...unknownFields(item as ReflectMessage, `${here}[${i++}]`));
    } else if (field.fieldKind === 'map' && field.mapKind === 'message') {
      for (const [key, value] of msg.get(field)) found.push(...unknownFields(value as ReflectMessage, `${here}[${String(key)}]`));
    }
  }
  return found;
}

/**
 * Decode one captured request with our schema and prove the schema covers it: nothing lands in `$unknown`,
 * and re-encoding reproduces ctr's bytes exactly. The second check catches lossy decodes that leave no
 * unknown field behind: a repeated field declared singular (only the last value survives), a bool that was
 * really an integer, bytes that are not the UTF-8 a string field expects. It holds because gogo writes fields
 * in number order and map keys sorted, as protobuf-es does. Lossless look-alikes (int64 for sint64, string for
 * bytes) pass both checks, which is why every test also asserts the exact values.
 */
function decode<D extends DescMessage>(schema: D, call: Captured): MessageShape<D> {
  const msg = fromBinary(schema, call.bytes);
  expect(unknownFields(reflect(schema, msg)), `${call.path} as ${schema.typeName}`).toEqual([]);
  expect(Buffer.from(toBinary(schema, msg)).toString('hex'), `${call.path} re-encoded`).toBe(Buffer.from(call.bytes).toString('hex'));
  return msg;
}

/** The captured calls, checked to be exactly `methods` in order and each to carry namespace `ns`. */
function calls(ns: string, ...methods: DescMethod[]): Captured[] {
  expect(captured.map((c) => c.path)).toEqual(methods.map(pathOf));
  for (const c of captured) expect(c.namespace, `${c.path} containerd-namespace`).toEqual([ns]);
  return captured.slice();
}

function only(ns: string, method: DescMethod): Captured {
  return calls(ns, method)[0]!;
}

// ---------------------------------------------------------------------------------------------------------
// Driving ctr

let dir: string;
let socket: string;
let server: grpc.Server;

/** Run ctr against the recorder. TZ=UTC because ctr prints some times in local time. */
async function ctr(...args: string[]): Promise<ExecResult> {
  return run('env', ['TZ=UTC', 'ctr', '--address', socket, ...args], { timeoutMs: 15_000 });
}

/** ctr that must succeed; its stderr goes into the failure message, since that is where ctr says what went wrong. */
async function ctrOk(...args: string[]): Promise<string> {
  const r = await ctr(...args);
  expect(r.code, `ctr ${args.join(' ')}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

/** Split space-padded tabwriter output into rows of cells; a cell holding a space ("CREATED AT") comes out as two. */
function table(out: string): string[][] {
  return out.trimEnd().split('\n').map((line) => line.trim().split(/\s+/));
}

const digestOf = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
// gogo's stdtime encodes every time.Time field, so a zero Go time arrives as a set Timestamp at year 1.
const goZeroTime = { seconds: -62135596800n, nanos: 0 };
const at2024 = new Date('2024-01-02T03:04:05Z');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wire-compat-'));
  socket = join(dir, 'containerd.sock');
  server = new grpc.Server();
  for (const service of services) server.addService(...rawService(service));
  await new Promise<number>((resolve, reject) =>
    server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
});

afterAll(async () => {
  server?.forceShutdown();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  captured.length = 0;
  answers.clear();
  for (const call of held.values()) call.end();
  held.clear();
});

// ---------------------------------------------------------------------------------------------------------

describe('ctr 1.6 requests decode exactly with our protos', () => {
  it('version: Version/Version and Introspection/Server, both answers printed', async () => {
    answer(Version.method.version, () => ({ version: 'v9.9.9-test', revision: 'rev-test' }));
    answer(Introspection.method.server, () => ({ uuid: '0b5c3b0e-5f6a-4f4e-9a51-7e3c2d1f0a99', pid: 77n, pidns: 4026531836n }));
    const out = await ctrOk('version');
    const [versionCall, serverCall] = calls('default', Version.method.version, Introspection.method.server);
    // Both requests are google.protobuf.Empty: zero bytes, which decode() still checks.
    decode(Version.method.version.input, versionCall!);
    decode(Introspection.method.server.input, serverCall!);
    expect(out).toMatch(/^Server:\n {2}Version: {2}v9\.9\.9-test\n {2}Revision: rev-test\n {2}UUID: 0b5c3b0e-5f6a-4f4e-9a51-7e3c2d1f0a99$/m);
  });

  it('namespaces create: Namespaces/Create with name and labels', async () => {
    answer(Namespaces.method.create, (req) => ({ namespace: req.namespace }));
    await ctrOk('namespaces', 'create', 'foo', 'a=b', 'c=d');
    const req = decode(Namespaces.method.create.input, only('default', Namespaces.method.create));
    expect(req.namespace?.name).toBe('foo');
    expect(req.namespace?.labels).toEqual({ a: 'b', c: 'd' });
  });

  it('namespaces label: one Namespaces/Update per label, masked to labels.<key>', async () => {
    answer(Namespaces.method.update, (req) => ({ namespace: req.namespace }));
    await ctrOk('namespaces', 'label', 'foo', 'x=y');
    const req = decode(Namespaces.method.update.input, only('default', Namespaces.method.update));
    expect(req.namespace?.name).toBe('foo');
    expect(req.namespace?.labels).toEqual({ x: 'y' });
    expect(req.updateMask?.paths).toEqual(['labels.x']);
  });

  it('namespaces label with an empty value: the key is sent with "" to clear it', async () => {
    answer(Namespaces.method.update, (req) => ({ namespace: req.namespace }));
    await ctrOk('namespaces', 'label', 'foo', 'x=');
    const req = decode(Namespaces.method.update.input, only('default', Namespaces.method.update));
    expect(req.namespace?.labels).toEqual({ x: '' });
    expect(req.updateMask?.paths).toEqual(['labels.x']);
  });

  it('namespaces ls: Namespaces/List, then Namespaces/Get for each name, labels printed', async () => {
    const labels: Record<string, Record<string, string>> = { alpha: { team: 'core', tier: 'gold' }, beta: { 'containerd.io/defaults/runtime': 'io.containerd.runc.v2' } };
    answer(Namespaces.method.list, () => ({ namespaces: Object.entries(labels).map(([name, l]) => ({ name, labels: l })) }));
    answer(Namespaces.method.get, (req) => ({ namespace: { name: req.name, labels: labels[req.name] ?? {} } }));
    const out = await ctrOk('namespaces', 'ls');
    const [list, getAlpha, getBeta] = calls('default', Namespaces.method.list, Namespaces.method.get, Namespaces.method.get);
    expect(decode(Namespaces.method.list.input, list!).filter).toBe('');
    expect(decode(Namespaces.method.get.input, getAlpha!).name).toBe('alpha');
    expect(decode(Namespaces.method.get.input, getBeta!).name).toBe('beta');
    expect(table(out)).toEqual([
      ['NAME', 'LABELS'],
      ['alpha', 'team=core,tier=gold'],
      ['beta', 'containerd.io/defaults/runtime=io.containerd.runc.v2'],
    ]);
  });

  it('namespaces rm: Namespaces/Delete with the name', async () => {
    answer(Namespaces.method.delete, () => ({}));
    const out = await ctrOk('namespaces', 'rm', 'foo');
    expect(decode(Namespaces.method.delete.input, only('default', Namespaces.method.delete)).name).toBe('foo');
    expect(out.trim()).toBe('foo');
  });

  describe('plugins ls', () => {
    // Three snapshotters: loaded, failed, and skipped (containerd's ErrSkipPlugin text), so ctr's status column
    // has each value it can print, and the failed one proves google.rpc.Status's fields.
    const plugins = [
      {
        type: 'io.containerd.snapshotter.v1',
        id: 'overlayfs',
        requires: ['io.containerd.event.v1', 'io.containerd.metadata.v1'],
        platforms: [
          { os: 'linux', architecture: 'amd64' },
          { os: 'linux', architecture: 'arm', variant: 'v7' },
        ],
        exports: { root: '/var/lib/flotilla/overlayfs' },
        capabilities: ['remap-ids', 'only-remap-ids'],
      },
      {
        type: 'io.containerd.snapshotter.v1',
        id: 'zfs',
        platforms: [{ os: 'linux', architecture: 'amd64' }],
        initErr: { code: grpc.status.FAILED_PRECONDITION, message: 'path /var/lib/zfs must be a zfs filesystem' },
      },
      {
        type: 'io.containerd.snapshotter.v1',
        id: 'btrfs',
        initErr: { code: grpc.status.UNKNOWN, message: 'no btrfs here: skip plugin' },
      },
    ];

    it('table: Introspection/Plugins with the filter; platforms as os/arch[/variant], status ok/error/skip', async () => {
      answer(Introspection.method.plugins, () => ({ plugins }));
      const out = await ctrOk('plugins', 'ls', 'type==io.containerd.snapshotter.v1');
      const req = decode(Introspection.method.plugins.input, only('default', Introspection.method.plugins));
      expect(req.filters).toEqual(['type==io.containerd.snapshotter.v1']);
      expect(table(out)).toEqual([
        ['TYPE', 'ID', 'PLATFORMS', 'STATUS'],
        ['io.containerd.snapshotter.v1', 'overlayfs', 'linux/amd64,linux/arm/v7', 'ok'],
        ['io.containerd.snapshotter.v1', 'zfs', 'linux/amd64', 'error'],
        ['io.containerd.snapshotter.v1', 'btrfs', '-', 'skip'],
      ]);
    });

    it('detailed (-d): requires, exports, capabilities and the init error code and message', async () => {
      answer(Introspection.method.plugins, () => ({ plugins }));
      const out = await ctrOk('plugins', 'ls', '-d', 'id==overlayfs', 'id==zfs');
      const req = decode(Introspection.method.plugins.input, only('default', Introspection.method.plugins));
      expect(req.filters).toEqual(['id==overlayfs', 'id==zfs']);
      const lines = out.split('\n').map((l) => l.trim().split(/\s+/).join(' '));
      for (const line of [
        'Type: io.containerd.snapshotter.v1',
        'ID: overlayfs',
        'Requires:',
        'io.containerd.event.v1',
        'io.containerd.metadata.v1',
        'Platforms: linux/amd64,linux/arm/v7',
        'Exports:',
        'root /var/lib/flotilla/overlayfs',
        'Capabilities: remap-ids,only-remap-ids',
        'ID: zfs',
        'Platforms: linux/amd64',
        'Error:',
        'Code: FailedPrecondition',
        'Message: path /var/lib/zfs must be a zfs filesystem',
      ]) {
        expect(lines).toContain(line);
      }
    });
  });

  describe('leases', () => {
    it('create: Leases/Create with id and labels, the expiry as containerd.io/gc.expire', async () => {
      answer(Leases.method.create, (req) => ({ lease: { id: req.id, createdAt: timestampFromDate(at2024), labels: req.labels } }));
      const before = Date.now();
      const out = await ctrOk('-n', 'testns', 'leases', 'create', '--id', 'l1', '--expires', '1h', 'k=v');
      const after = Date.now();
      const req = decode(Leases.method.create.input, only('testns', Leases.method.create));
      expect(req.id).toBe('l1');
      const { 'containerd.io/gc.expire': expire, ...rest } = req.labels;
      expect(rest).toEqual({ k: 'v' });
      // RFC 3339 at whole seconds, an hour from when ctr ran.
      expect(expire).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const expiresAt = Date.parse(expire!);
      expect(expiresAt).toBeGreaterThanOrEqual(before + 3_600_000 - 1_000);
      expect(expiresAt).toBeLessThanOrEqual(after + 3_600_000);
      expect(out.trim()).toBe('l1');
    });

    it('ls: Leases/List with the filters; id, creation time and labels printed', async () => {
      answer(Leases.method.list, () => ({
        leases: [
          { id: 'l1', createdAt: timestampFromDate(at2024), labels: { k: 'v', 'containerd.io/gc.expire': '2024-01-03T03:04:05Z' } },
          { id: 'l2', createdAt: timestampFromDate(new Date('2023-06-07T08:09:10Z')) },
        ],
      }));
      const out = await ctrOk('-n', 'testns', 'leases', 'ls', 'id==l1', 'id==l2');
      const req = decode(Leases.method.list.input, only('testns', Leases.method.list));
      expect(req.filters).toEqual(['id==l1', 'id==l2']);
      expect(table(out)).toEqual([
        ['ID', 'CREATED', 'AT', 'LABELS'],
        ['l1', '2024-01-02T03:04:05Z', 'containerd.io/gc.expire=2024-01-03T03:04:05Z,k=v'],
        ['l2', '2023-06-07T08:09:10Z', '-'],
      ]);
    });

    it('rm --sync: Leases/Delete with id and sync=true; without it sync=false', async () => {
      answer(Leases.method.delete, () => ({}));
      expect((await ctrOk('-n', 'testns', 'leases', 'rm', '--sync', 'l1')).trim()).toBe('l1');
      expect((await ctrOk('-n', 'testns', 'leases', 'rm', 'l2')).trim()).toBe('l2');
      const [synced, plain] = calls('testns', Leases.method.delete, Leases.method.delete);
      expect(decode(Leases.method.delete.input, synced!)).toMatchObject({ id: 'l1', sync: true });
      expect(decode(Leases.method.delete.input, plain!)).toMatchObject({ id: 'l2', sync: false });
    });
  });

  describe('content', () => {
    const blob = '0'.repeat(63) + '1';
    const digest = `sha256:${blob}`;

    it('ls: Content/List (server stream) with the filters; digest, size, age and labels printed', async () => {
      answer(Content.method.list, () => [
        { info: [{ digest, size: 1234n, createdAt: timestampFromDate(new Date(Date.now() - 3 * 3_600_000)), updatedAt: timestampFromDate(new Date()), labels: { a: 'b' } }] },
        { info: [{ digest: `sha256:${'2'.repeat(64)}`, size: 5n, createdAt: timestampFromDate(new Date(Date.now() - 3 * 3_600_000)) }] },
      ]);
      const out = await ctrOk('-n', 'testns', 'content', 'ls', 'labels.a==b');
      const req = decode(Content.method.list.input, only('testns', Content.method.list));
      expect(req.filters).toEqual(['labels.a==b']);
      // Tab-padded columns, and the AGE cell has a space, so split on tab runs rather than table().
      expect(out.trimEnd().split('\n').map((l) => l.split(/\t+/))).toEqual([
        ['DIGEST', 'SIZE', 'AGE', 'LABELS'],
        [digest, '1.234kB', '3 hours', 'a=b'],
        [`sha256:${'2'.repeat(64)}`, '5B', '3 hours', '-'],
      ]);
    });

    it('label with labels: only Content/Update, with labels.<key> paths (no Info first in 1.6)', async () => {
      answer(Content.method.update, (req) => ({ info: { digest: req.info?.digest, size: 9n, labels: req.info?.labels } }));
      const out = await ctrOk('-n', 'testns', 'content', 'label', digest, 'a=b');
      const req = decode(Content.method.update.input, only('testns', Content.method.update));
      expect(req.info?.digest).toBe(digest);
      expect(req.info?.labels).toEqual({ a: 'b' });
      expect(req.info?.size).toBe(0n);
      // ctr fills in the rest of content.Info with zero values; only the mask says what changes.
      expect(req.info?.createdAt).toMatchObject(goZeroTime);
      expect(req.info?.updatedAt).toMatchObject(goZeroTime);
      expect(req.updateMask?.paths).toEqual(['labels.a']);
      // ctr prints the labels from the answer, so UpdateResponse.info decoded too.
      expect(out.trim()).toBe('a=b');
    });

    it('label without labels: Content/Info with the digest, its labels printed', async () => {
      answer(Content.method.info, (req) => ({ info: { digest: req.digest, size: 9n, labels: { 'containerd.io/gc.root': 'x' } } }));
      const out = await ctrOk('-n', 'testns', 'content', 'label', digest);
      expect(decode(Content.method.info.input, only('testns', Content.method.info)).digest).toBe(digest);
      expect(out.trim()).toBe('containerd.io/gc.root=x');
    });

    it('rm: Content/Delete with the digest', async () => {
      answer(Content.method.delete, () => ({}));
      const out = await ctrOk('-n', 'testns', 'content', 'rm', digest);
      expect(decode(Content.method.delete.input, only('testns', Content.method.delete)).digest).toBe(digest);
      expect(out.trim()).toBe(digest);
    });
  });

  describe('images', () => {
    it('ls: Images/List with the filters; the target, and its size and platform read through Content/Info and Content/Read', async () => {
      // A real manifest and config, served from "content", so ctr walks the image the way it does against
      // containerd: that exercises InfoRequest and ReadContentRequest (offset, size) too.
      const config = new TextEncoder().encode(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
      // ctr sums manifest, config and layer sizes (from Descriptor.size and Info.size); make that exactly 3 MiB.
      const total = 3 * 1024 * 1024;
      const manifestOf = (size: number) =>
        new TextEncoder().encode(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
            layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${'3'.repeat(64)}`, size }],
          }),
        );
      // The layer size's digit count does not change between the two passes, so the manifest length is stable.
      let manifest = manifestOf(total);
      manifest = manifestOf(total - manifest.length - config.length);
      const blobs = new Map([
        [digestOf(manifest), manifest],
        [digestOf(config), config],
      ]);
      const target = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(manifest), size: BigInt(manifest.length) };
      answer(Images.method.list, () => ({
        images: [{ name: 'docker.io/library/x:latest', labels: { b: '2', a: '1' }, target, createdAt: timestampFromDate(at2024), updatedAt: timestampFromDate(at2024) }],
      }));
      answer(Content.method.info, (req) => {
        const blob = blobs.get(req.digest);
        if (!blob) throw new Error(`unexpected Info for ${req.digest}`);
        return { info: { digest: req.digest, size: BigInt(blob.length), createdAt: timestampFromDate(at2024), updatedAt: timestampFromDate(at2024) } };
      });
      answer(Content.method.read, (req) => {
        const blob = blobs.get(req.digest)!;
        const data = blob.subarray(Number(req.offset), req.size > 0n ? Number(req.offset + req.size) : undefined);
        return [{ offset: req.offset, data }];
      });

      const out = await ctrOk('-n', 'testns', 'images', 'ls', 'name==docker.io/library/x:latest');
      // Image.Size reads the manifest, then images.Platforms reads it again and then the config; every read
      // asks Info for the size first and then reads the whole blob in one ReadAt.
      const info = Content.method.info;
      const read = Content.method.read;
      const [list, ...content] = calls('testns', Images.method.list, info, read, info, read, info, read);
      expect(decode(Images.method.list.input, list!).filters).toEqual(['name==docker.io/library/x:latest']);
      const expected = [manifest, manifest, config];
      for (const [i, blob] of expected.entries()) {
        expect(decode(info.input, content[2 * i]!).digest).toBe(digestOf(blob));
        const req = decode(read.input, content[2 * i + 1]!);
        expect({ digest: req.digest, offset: req.offset, size: req.size }).toEqual({ digest: digestOf(blob), offset: 0n, size: BigInt(blob.length) });
      }
      expect(table(out)).toEqual([
        ['REF', 'TYPE', 'DIGEST', 'SIZE', 'PLATFORMS', 'LABELS'],
        ['docker.io/library/x:latest', target.mediaType, target.digest, '3.0', 'MiB', 'linux/amd64', 'a=1,b=2'],
      ]);
    });

    it('rm --sync: Images/Delete with name and sync=true, no target; without it sync=false', async () => {
      answer(Images.method.delete, () => ({}));
      expect((await ctrOk('-n', 'testns', 'images', 'rm', '--sync', 'img')).trim()).toBe('img');
      expect((await ctrOk('-n', 'testns', 'images', 'rm', 'img2')).trim()).toBe('img2');
      const [synced, plain] = calls('testns', Images.method.delete, Images.method.delete);
      const s = decode(Images.method.delete.input, synced!);
      expect({ name: s.name, sync: s.sync, target: s.target }).toEqual({ name: 'img', sync: true, target: undefined });
      const p = decode(Images.method.delete.input, plain!);
      expect({ name: p.name, sync: p.sync }).toEqual({ name: 'img2', sync: false });
    });

    it('label: only Images/Update (no Get first in 1.6), masked to labels.<key>; -r masks "labels"', async () => {
      answer(Images.method.update, (req) => ({ image: { name: req.image?.name, labels: { a: 'b' }, target: { mediaType: 'm', digest: 'sha256:d', size: 1n } } }));
      expect((await ctrOk('-n', 'testns', 'images', 'label', 'img', 'a=b')).trim()).toBe('a=b');
      expect((await ctrOk('-n', 'testns', 'images', 'label', '-r', 'img', 'a=b')).trim()).toBe('a=b');
      const [keyed, replaced] = calls('testns', Images.method.update, Images.method.update);
      for (const [c, paths] of [[keyed!, ['labels.a']], [replaced!, ['labels']]] as const) {
        const req = decode(Images.method.update.input, c);
        expect(req.image?.name).toBe('img');
        expect(req.image?.labels).toEqual({ a: 'b' });
        // images.Image's zero target and times travel as present-but-empty; the mask is what matters.
        expect(req.image?.target).toMatchObject({ mediaType: '', digest: '', size: 0n, annotations: {} });
        expect(req.image?.createdAt).toMatchObject(goZeroTime);
        expect(req.image?.updatedAt).toMatchObject(goZeroTime);
        expect(req.updateMask?.paths).toEqual(paths);
        expect(req.sourceDateEpoch).toBeUndefined();
      }
    });
  });

  describe('containers', () => {
    const container = (id: string) => ({
      id,
      labels: { app: id },
      image: `docker.io/library/${id}:1`,
      runtime: { name: 'io.containerd.runc.v2' },
      snapshotter: 'overlayfs',
      snapshotKey: `${id}-snap`,
      createdAt: timestampFromDate(at2024),
      updatedAt: timestampFromDate(at2024),
    });

    it('ls: Containers/ListStream (1.6 tries it first) with the filters; id, image, runtime printed', async () => {
      answer(Containers.method.listStream, () => [{ container: container('web') }, { container: { ...container('db'), image: '' } }]);
      const out = await ctrOk('-n', 'testns', 'containers', 'ls', 'labels.app==web', 'labels.app==db');
      const req = decode(Containers.method.listStream.input, only('testns', Containers.method.listStream));
      expect(req.filters).toEqual(['labels.app==web', 'labels.app==db']);
      expect(table(out)).toEqual([
        ['CONTAINER', 'IMAGE', 'RUNTIME'],
        ['web', 'docker.io/library/web:1', 'io.containerd.runc.v2'],
        ['db', '-', 'io.containerd.runc.v2'],
      ]);
    });

    it('ls against a server without ListStream: falls back to Containers/List with the same request', async () => {
      refuse(Containers.method.listStream, grpc.status.UNIMPLEMENTED, 'unknown method ListStream');
      answer(Containers.method.list, () => ({ containers: [container('web')] }));
      const out = await ctrOk('-n', 'testns', 'containers', 'ls', 'labels.app==web');
      const [stream, list] = calls('testns', Containers.method.listStream, Containers.method.list);
      expect(decode(Containers.method.listStream.input, stream!).filters).toEqual(['labels.app==web']);
      expect(decode(Containers.method.list.input, list!).filters).toEqual(['labels.app==web']);
      expect(table(out)).toEqual([
        ['CONTAINER', 'IMAGE', 'RUNTIME'],
        ['web', 'docker.io/library/web:1', 'io.containerd.runc.v2'],
      ]);
    });

    it('info: Containers/Get with the id; every field we answer comes back in the JSON, the spec via its Any', async () => {
      const spec = { ociVersion: '1.0.2', hostname: 'wire' };
      answer(Containers.method.get, (req) => ({
        container: {
          ...container(req.id),
          spec: { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: new TextEncoder().encode(JSON.stringify(spec)) },
          extensions: { ext: anyPack(NamespaceCreateSchema, create(NamespaceCreateSchema, { name: 'n' })) },
        },
      }));
      const out = await ctrOk('-n', 'testns', 'containers', 'info', 'web');
      expect(decode(Containers.method.get.input, only('testns', Containers.method.get)).id).toBe('web');
      const info = JSON.parse(out) as Record<string, unknown>;
      expect(info).toMatchObject({
        ID: 'web',
        Labels: { app: 'web' },
        Image: 'docker.io/library/web:1',
        Runtime: { Name: 'io.containerd.runc.v2' },
        SnapshotKey: 'web-snap',
        Snapshotter: 'overlayfs',
        CreatedAt: '2024-01-02T03:04:05Z',
        UpdatedAt: '2024-01-02T03:04:05Z',
        Spec: spec,
      });
      // Extensions print as the raw Any, so the type URL survives the trip.
      expect(JSON.stringify(info['Extensions'])).toContain('containerd.events.NamespaceCreate');
    });
  });

  describe('snapshots', () => {
    const infos = [
      { name: 'k', parent: 'p', kind: Kind.ACTIVE, labels: { l: 'v' }, createdAt: timestampFromDate(at2024), updatedAt: timestampFromDate(at2024) },
      { name: 'p', kind: Kind.COMMITTED, createdAt: timestampFromDate(at2024), updatedAt: timestampFromDate(at2024) },
      { name: 'v', parent: 'p', kind: Kind.VIEW },
    ];

    it('ls: Snapshots/List (server stream) with the snapshotter; name, parent and kind printed', async () => {
      answer(Snapshots.method.list, () => [{ info: infos.slice(0, 2) }, { info: infos.slice(2) }]);
      const out = await ctrOk('-n', 'testns', 'snapshots', '--snapshotter', 'overlayfs', 'ls');
      const req = decode(Snapshots.method.list.input, only('testns', Snapshots.method.list));
      expect(req.snapshotter).toBe('overlayfs');
      expect(req.filters).toEqual([]);
      expect(table(out)).toEqual([
        ['KEY', 'PARENT', 'KIND'],
        ['k', 'p', 'Active'],
        ['p', 'Committed'],
        ['v', 'p', 'View'],
      ]);
    });

    it('info: Snapshots/Stat with snapshotter and key; the Info printed as JSON', async () => {
      answer(Snapshots.method.stat, (req) => ({ info: infos.find((i) => i.name === req.key) }));
      const out = await ctrOk('-n', 'testns', 'snapshots', '--snapshotter', 'overlayfs', 'info', 'k');
      const req = decode(Snapshots.method.stat.input, only('testns', Snapshots.method.stat));
      expect({ snapshotter: req.snapshotter, key: req.key }).toEqual({ snapshotter: 'overlayfs', key: 'k' });
      expect(JSON.parse(out)).toEqual({
        Kind: 'Active',
        Name: 'k',
        Parent: 'p',
        Labels: { l: 'v' },
        Created: '2024-01-02T03:04:05Z',
        Updated: '2024-01-02T03:04:05Z',
      });
    });

    it('usage: Snapshots/List, then Snapshots/Usage per key; size and inodes printed', async () => {
      answer(Snapshots.method.list, () => [{ info: infos.slice(0, 1) }]);
      answer(Snapshots.method.usage, () => ({ size: 2048n, inodes: 7n }));
      const out = await ctrOk('-n', 'testns', 'snapshots', '--snapshotter', 'overlayfs', 'usage');
      const [list, usage] = calls('testns', Snapshots.method.list, Snapshots.method.usage);
      expect(decode(Snapshots.method.list.input, list!).snapshotter).toBe('overlayfs');
      const req = decode(Snapshots.method.usage.input, usage!);
      expect({ snapshotter: req.snapshotter, key: req.key }).toEqual({ snapshotter: 'overlayfs', key: 'k' });
      expect(table(out)).toEqual([
        ['KEY', 'SIZE', 'INODES'],
        ['k', '2.0', 'KiB', '7'],
      ]);
    });
  });

  it('tasks ls: Tasks/List; each Process id, pid and status printed', async () => {
    answer(Tasks.method.list, () => ({
      tasks: [
        { containerId: 'web', id: 'web', pid: 4242, status: TaskStatus.RUNNING },
        { containerId: 'db', id: 'db', pid: 0, status: TaskStatus.STOPPED, exitStatus: 137, exitedAt: timestampFromDate(at2024) },
      ],
    }));
    const out = await ctrOk('-n', 'testns', 'tasks', 'ls');
    expect(decode(Tasks.method.list.input, only('testns', Tasks.method.list)).filter).toBe('');
    expect(table(out)).toEqual([
      ['TASK', 'PID', 'STATUS'],
      ['web', '4242', 'RUNNING'],
      ['db', '0', 'STOPPED'],
    ]);
  });

  it('events: Events/Subscribe with the filters; an Envelope we send is printed as time, namespace, topic, event', async () => {
    hold(Events.method.subscribe);
    const child = spawn('ctr', ['--address', socket, '-n', 'testns', 'events', 'topic~="/namespace/"'], { env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const stream = await waitFor(() => held.get(pathOf(Events.method.subscribe)), `ctr events to subscribe (stderr: ${stderr})`, 10_000);
      const req = decode(Events.method.subscribe.input, only('testns', Events.method.subscribe));
      expect(req.filters).toEqual(['topic~="/namespace/"']);

      const event = create(NamespaceCreateSchema, { name: 'foo', labels: { a: 'b' } });
      const envelope = create(Events.method.subscribe.output, {
        timestamp: timestampFromDate(at2024),
        namespace: 'testns',
        topic: '/namespaces/create',
        event: anyPack(NamespaceCreateSchema, event),
      });
      // containerd's typeurl names events by their bare proto name, not the type.googleapis.com/ form.
      expect(envelope.event?.typeUrl).toBe('type.googleapis.com/containerd.events.NamespaceCreate');
      envelope.event!.typeUrl = 'containerd.events.NamespaceCreate';
      stream.write(asBuffer(toBinary(Events.method.subscribe.output, envelope)));

      const line = await waitFor(() => stdout.split('\n').find((l) => l.includes('/namespaces/create')), `ctr events to print (stderr: ${stderr})`, 10_000);
      expect(line).toBe('2024-01-02 03:04:05 +0000 UTC testns /namespaces/create {"name":"foo","labels":{"a":"b"}}');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
