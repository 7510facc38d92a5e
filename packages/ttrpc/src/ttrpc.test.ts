import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  CanceledError,
  DeadlineExceededError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  ResourceExhaustedError,
  UnavailableError,
} from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import { Status } from '@flotilla/proto/containerd/types/task/task_pb';
import { StateRequestSchema, StateResponseSchema, Task } from '@flotilla/proto/containerd/task/v2/shim_pb';
import { RequestSchema, ResponseSchema } from '@flotilla/proto/ttrpc/request_pb';
import { dialTtrpc, type TtrpcClient } from './client.js';
import { createFrameDecoder, encodeFrame, MessageType, type Frame } from './frame.js';
import { reconnectingTtrpc } from './reconnecting-client.js';
import { createTtrpcServer, type TtrpcCallContext, type TtrpcServer } from './server.js';
import { serviceClient } from './service-client.js';
import { errorOf } from './status.js';

const log = createLogger({ service: 'test', level: 'silent' });
const TASK = 'containerd.task.v2.Task';

let dir: string;
let path: string;
let server: TtrpcServer;
let client: TtrpcClient;
const seen: TtrpcCallContext[] = [];

/** A Task service whose State answers after `delay` ms (from the exec id), echoing the id. */
function startServer(opts: { maxMessageLength?: number } = {}): Promise<TtrpcServer> {
  const s = createTtrpcServer({ log, ...opts });
  s.register(Task, {
    async state(req, ctx) {
      seen.push(ctx);
      if (req.id === 'missing') throw new NotFoundError(`container ${req.id}`);
      if (req.id === 'boom') throw new Error('plain failure');
      const delay = Number(req.execId || '0');
      if (delay > 0) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, delay);
          ctx.signal.addEventListener('abort', () => { clearTimeout(t); reject(ctx.signal.reason); }, { once: true });
        });
      }
      return { id: req.id, status: Status.RUNNING, pid: 42, stdout: req.id === 'huge' ? 'x'.repeat(3000) : '' };
    },
  });
  return s.listen(path).then(() => s);
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ttrpc-'));
  path = join(dir, 't.sock');
  seen.length = 0;
  server = await startServer();
  client = await dialTtrpc(path, { log });
});

afterEach(async () => {
  client?.close();
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const task = () => serviceClient(Task, client, { defaults: { metadata: { 'containerd-namespace-ttrpc': 'default' } } });

/** A raw connection that writes frames by hand and collects what comes back. */
async function raw(): Promise<{ socket: Socket; frames: Frame[]; next(n?: number): Promise<Frame[]> }> {
  const socket = connect(path);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const frames: Frame[] = [];
  const decoder = createFrameDecoder({ frame: (f) => frames.push(f), oversized: () => {} });
  socket.on('data', (c: Buffer) => decoder.push(c));
  return {
    socket,
    frames,
    async next(n = 1) {
      const deadline = Date.now() + 5000;
      while (frames.length < n && Date.now() < deadline) await sleep(5);
      return frames.splice(0, n);
    },
  };
}

const request = (id: string, execId = '') => toBinary(RequestSchema, create(RequestSchema, {
  service: TASK,
  method: 'State',
  payload: toBinary(StateRequestSchema, create(StateRequestSchema, { id, execId })),
}));

const answer = (f: Frame | undefined) => {
  const res = fromBinary(ResponseSchema, f?.payload ?? Buffer.alloc(0));
  return { code: res.status?.code ?? 0, message: res.status?.message ?? '', state: fromBinary(StateResponseSchema, res.payload) };
};

describe('ttrpc client and server', () => {
  it('makes a unary call with its metadata and deadline', async () => {
    const res = await task().state({ id: 'c1' }, { timeoutMs: 2000, metadata: { extra: ['a', 'b'] } });
    expect(res).toMatchObject({ id: 'c1', pid: 42, status: Status.RUNNING });
    const ctx = seen[0];
    expect(ctx?.service).toBe(TASK);
    expect(ctx?.method).toBe('State');
    expect(ctx?.metadata.get('containerd-namespace-ttrpc')).toEqual(['default']);
    expect(ctx?.metadata.get('extra')).toEqual(['a', 'b']);
  });

  it('maps a failed call to the errdefs class of its status', async () => {
    await expect(task().state({ id: 'missing' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(task().state({ id: 'missing' })).rejects.toThrow('container missing: not found');
    await expect(task().pids({ id: 'x' })).rejects.toBeInstanceOf(NotImplementedError); // no handler
    await expect(client.call('no.such.Service', 'X', new Uint8Array())).rejects.toThrow(/service no.such.Service/);
    await expect(client.call('no.such.Service', 'X', new Uint8Array())).rejects.toBeInstanceOf(NotImplementedError);
    await expect(client.call(TASK, 'NoSuchMethod', new Uint8Array())).rejects.toThrow(/method NoSuchMethod/);
    expect(errorOf({ code: 2, message: 'x' } as never, '/a/b').kind).toBe('Unknown');
    await expect(task().state({ id: 'boom' })).rejects.toThrow('plain failure');
  });

  it('carries the deadline to the server and gives up at it', async () => {
    await expect(task().state({ id: 'slow', execId: '5000' }, { timeoutMs: 100 })).rejects.toBeInstanceOf(DeadlineExceededError);
    await sleep(50);
    expect(seen[0]?.signal.aborted).toBe(true); // the server saw the same deadline
    // The connection is still good, and the late answer (none here) would be dropped.
    expect((await task().state({ id: 'after' })).id).toBe('after');
  });

  it('cancels a call when its signal aborts', async () => {
    const ac = new AbortController();
    const p = task().state({ id: 'slow', execId: '2000' }, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(CanceledError);
  });

  it('multiplexes calls on one connection, answered in any order', async () => {
    const order: string[] = [];
    const calls = ['300', '150', '0'].map((d) => task().state({ id: `c${d}`, execId: d }).then((r) => { order.push(r.id); return r.id; }));
    expect(await Promise.all(calls)).toEqual(['c300', 'c150', 'c0']);
    expect(order).toEqual(['c0', 'c150', 'c300']);
  });

  it('reads requests split into single bytes and several coalesced in one write', async () => {
    const r = await raw();
    const one = encodeFrame(1, MessageType.Request, 0, request('bytewise'));
    for (const b of one) r.socket.write(Buffer.from([b]));
    expect(answer((await r.next())[0]).state.id).toBe('bytewise');
    r.socket.write(Buffer.concat([
      encodeFrame(3, MessageType.Request, 0, request('slow', '100')),
      encodeFrame(5, MessageType.Request, 0, request('fast')),
    ]));
    const got = await r.next(2);
    expect(got.map((f) => [f.streamId, answer(f).state.id])).toEqual([[5, 'fast'], [3, 'slow']]);
    r.socket.destroy();
  });

  it('enforces odd, increasing stream ids and refuses data frames on unary calls', async () => {
    const r = await raw();
    r.socket.write(encodeFrame(2, MessageType.Request, 0, request('even')));
    let [f] = await r.next();
    expect(f?.streamId).toBe(2);
    expect(errorOf(fromBinary(ResponseSchema, f?.payload ?? Buffer.alloc(0)).status!, '/x')).toBeInstanceOf(InvalidArgumentError);
    expect(answer(f).message).toBe('StreamID must be odd for client initiated streams');
    r.socket.write(encodeFrame(7, MessageType.Request, 0, request('seven')));
    expect(answer((await r.next())[0]).state.id).toBe('seven');
    r.socket.write(encodeFrame(5, MessageType.Request, 0, request('reused')));
    [f] = await r.next();
    expect(answer(f)).toMatchObject({ code: 3, message: 'StreamID cannot be re-used and must increment' });
    r.socket.write(encodeFrame(9, MessageType.Data, 0, Buffer.from('x')));
    [f] = await r.next();
    expect(answer(f)).toMatchObject({ code: 3, message: 'StreamID is no longer active' });
    r.socket.destroy();
  });

  it('answers an oversized request ResourceExhausted on its stream and keeps the connection', async () => {
    const r = await raw();
    const huge = Buffer.alloc((4 << 20) + 1);
    r.socket.write(encodeFrame(1, MessageType.Request, 0, huge, 8 << 20));
    r.socket.write(encodeFrame(3, MessageType.Request, 0, request('still-here')));
    const [a, b] = await r.next(2);
    expect(a?.streamId).toBe(1);
    expect(answer(a).code).toBe(8); // RESOURCE_EXHAUSTED
    expect(answer(a).message).toMatch(/exceed maximum message size of 4194304/);
    expect(answer(b).state.id).toBe('still-here');
    r.socket.destroy();
  });

  it('refuses to send an oversized request, and fails only the call whose answer is too big', async () => {
    await expect(client.call(TASK, 'State', new Uint8Array((4 << 20) + 1))).rejects.toBeInstanceOf(ResourceExhaustedError);
    const small = await dialTtrpc(path, { log, maxMessageLength: 1024 });
    await expect(serviceClient(Task, small).state({ id: 'huge' })).rejects.toBeInstanceOf(ResourceExhaustedError);
    expect((await serviceClient(Task, small).state({ id: 'fine' })).id).toBe('fine');
    small.close();
  });

  it('fails calls in flight when the connection ends, and every call after', async () => {
    const pending = task().state({ id: 'slow', execId: '5000' });
    await sleep(50);
    server.close();
    await expect(pending).rejects.toBeInstanceOf(UnavailableError);
    await client.done;
    expect(client.closed).toBe(true);
    await expect(task().state({ id: 'x' })).rejects.toThrow('ttrpc: closed');
  });

  it('fails calls in flight when the client closes', async () => {
    const pending = task().state({ id: 'slow', execId: '5000' });
    client.close();
    await expect(pending).rejects.toBeInstanceOf(UnavailableError);
  });

  it('lets calls in flight finish on shutdown', async () => {
    const pending = task().state({ id: 'slow', execId: '200' });
    await sleep(20);
    await server.shutdown(5000);
    expect((await pending).id).toBe('slow');
    await client.done;
    await expect(dialTtrpc(path, { timeoutMs: 1000 })).rejects.toBeInstanceOf(UnavailableError);
  });

  it('never takes over a live socket', async () => {
    const other = createTtrpcServer({ log });
    await expect(other.listen(path)).rejects.toThrow(/in use/);
  });

  it('redials after the server comes back, when asked to', async () => {
    const rc = reconnectingTtrpc(path, { log });
    const call = async (id: string) => fromBinary(StateResponseSchema, await rc.call(TASK, 'State', toBinary(StateRequestSchema, create(StateRequestSchema, { id })))).id;
    expect(await call('first')).toBe('first');
    server.close();
    await (await rc.current()).done;
    server = await startServer();
    expect(await call('second')).toBe('second');
    rc.close();
  });
});
