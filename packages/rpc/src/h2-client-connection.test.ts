import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHpackDecoder, encodeHeaders, type HeaderField } from './hpack.js';
import { connectH2, H2Error, type H2ClientConnection, type H2ClientOptions, type H2ClientStream } from './h2-client-connection.js';
import {
  ACK, CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PADDED, PING, PRIORITY, PRIORITY_FLAG, PUSH_PROMISE, RST_STREAM, SETTINGS, WINDOW_UPDATE,
  encodeFrame, settingsPayload, takeFrames, u32, type Frame,
} from './test-support.js';

// Frame-level tests: a raw server reads every frame the client sends and writes exactly the frames a case
// needs, so each rule of the protocol is checked on the wire, not through another HTTP/2 stack. Nothing
// waits on a clock: "the client sent nothing more" is checked after a PING round trip, since the client
// writes what it has queued before (or with) its acknowledgement.

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

const settingsOf = (f: Frame) => {
  const values = new Map<number, number>();
  for (let i = 0; i < f.payload.length; i += 6) values.set(f.payload.readUInt16BE(i), f.payload.readUInt32BE(i + 2));
  return values;
};
const REQUEST: HeaderField[] = [[':method', 'POST'], [':scheme', 'http'], [':path', '/svc/Method'], [':authority', 'localhost'], ['content-type', 'application/grpc'], ['te', 'trailers']];
const OK_HEADERS = encodeHeaders([[':status', '200'], ['content-type', 'application/grpc']]);
const OK_TRAILERS = encodeHeaders([['grpc-status', '0']]);

/** The server end of one connection, speaking raw frames. */
interface Peer {
  socket: Socket;
  /** Every frame the client sent, in order. */
  frames: Frame[];
  /** Whether the client's preface came first. */
  preface: boolean;
  send(type: number, flags: number, stream: number, payload?: Buffer): void;
  /** The first frame not taken yet by next() that matches; fails if the client closes first or after 5 s. */
  next(match: (f: Frame) => boolean): Promise<Frame>;
  /** Every frame the client had queued has arrived (a PING round trip). */
  barrier(): Promise<void>;
  /** The client's side of the socket ended. */
  ended: Promise<void>;
}

let cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/**
 * A client connection to a raw server. Unless `settings` is false, the server opens with SETTINGS (the
 * given values) and the test starts once the client has acknowledged them.
 */
async function start(opts: { client?: Partial<H2ClientOptions>; settings?: [number, number][] | false } = {}): Promise<{ conn: H2ClientConnection; peer: Peer }> {
  const dir = mkdtempSync(join(tmpdir(), 'h2client-'));
  const path = join(dir, 's.sock');
  let accepted!: (s: Socket) => void;
  const acceptedP = new Promise<Socket>((r) => { accepted = r; });
  const server = createServer((s) => accepted(s));
  await new Promise<void>((r) => server.listen(path, r));
  const conn = connectH2(connect(path), opts.client);
  const socket = await acceptedP;
  cleanups.push(() => { conn.destroy(); socket.destroy(); server.close(); rmSync(dir, { recursive: true, force: true }); });
  const frames: Frame[] = [];
  const taken = new Set<Frame>();
  let buf: Buffer = Buffer.alloc(0);
  let prefaceLeft = PREFACE.length;
  const peer: Peer = { socket, frames, preface: false } as Peer;
  const waiters: (() => void)[] = [];
  const wake = () => { for (const w of waiters.splice(0)) w(); };
  let endedResolve!: () => void;
  peer.ended = new Promise<void>((r) => { endedResolve = r; });
  let done = false;
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    if (prefaceLeft > 0) {
      if (buf.length < prefaceLeft) return;
      peer.preface = buf.subarray(0, PREFACE.length).toString('latin1') === PREFACE;
      buf = buf.subarray(PREFACE.length);
      prefaceLeft = 0;
    }
    buf = takeFrames(buf, frames);
    wake();
  });
  socket.on('end', () => { done = true; endedResolve(); wake(); });
  socket.on('close', () => { done = true; endedResolve(); wake(); });
  socket.on('error', () => {});
  peer.send = (type, flags, stream, payload) => { socket.write(encodeFrame(type, flags, stream, payload)); };
  peer.next = async (match) => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const f = frames.find((x) => !taken.has(x) && match(x));
      if (f !== undefined) {
        taken.add(f);
        return f;
      }
      if (done || Date.now() > deadline) throw new Error(`no matching frame; got ${JSON.stringify(frames.map((f) => [f.type, f.flags, f.stream, f.payload.length]))}`);
      await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 100); });
    }
  };
  let pings = 0;
  peer.barrier = async () => {
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(++pings);
    peer.send(PING, 0, 0, payload);
    // Looked for from the start: an ack is never taken by another next().
    const deadline = Date.now() + 5000;
    for (;;) {
      if (frames.some((f) => f.type === PING && (f.flags & ACK) !== 0 && f.payload.equals(payload))) return;
      if (done || Date.now() > deadline) throw new Error('no PING ack');
      await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 100); });
    }
  };
  if (opts.settings !== false) {
    peer.send(SETTINGS, 0, 0, settingsPayload(opts.settings ?? []));
    await peer.next((f) => f.type === SETTINGS && (f.flags & ACK) !== 0);
  }
  return { conn, peer };
}

/** What a stream's reader saw. */
function watch(s: H2ClientStream) {
  const seen = { response: [] as Record<string, unknown>[], trailers: [] as Record<string, unknown>[], data: [] as Buffer[], ended: false, closed: false, drains: 0 };
  s.on('response', (h) => seen.response.push(h));
  s.on('trailers', (h) => seen.trailers.push(h));
  s.on('data', (c) => seen.data.push(Buffer.from(c)));
  s.on('end', () => { seen.ended = true; });
  s.on('close', () => { seen.closed = true; });
  s.on('drain', () => { seen.drains++; });
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  return { seen, closed, body: () => Buffer.concat(seen.data) };
}

const decode = (p: Buffer) => createHpackDecoder().decode(p);
const isData = (id: number) => (f: Frame) => f.type === DATA && f.stream === id;

describe('HTTP/2 client connection', () => {
  it('opens with the preface, its SETTINGS and a connection WINDOW_UPDATE, acknowledges the server\'s and answers PING', async () => {
    const { peer } = await start({ settings: false, client: { streamWindow: 100_000, connectionWindow: 1 << 20, maxFrameSize: 32_768 } });
    const settings = await peer.next((f) => f.type === SETTINGS);
    expect(peer.preface).toBe(true);
    expect(peer.frames[0]).toBe(settings);
    expect(settings.flags & ACK).toBe(0);
    const values = settingsOf(settings);
    expect(values.get(2)).toBe(0);
    expect(values.get(4)).toBe(100_000);
    expect(values.get(5)).toBe(32_768);
    const wu = await peer.next((f) => f.type === WINDOW_UPDATE);
    expect(wu.stream).toBe(0);
    expect(wu.payload.readUInt32BE(0)).toBe((1 << 20) - 65_535);
    peer.send(SETTINGS, 0, 0, settingsPayload([[4, 1000], [3, 100]]));
    await peer.next((f) => f.type === SETTINGS && (f.flags & ACK) !== 0);
    peer.send(PING, 0, 0, Buffer.from('12345678'));
    const pong = await peer.next((f) => f.type === PING);
    expect(pong.flags & ACK).toBe(ACK);
    expect(pong.payload.toString()).toBe('12345678');
  });

  it('carries a unary call: headers, request data ending in the same frame, response, trailers', async () => {
    const { conn, peer } = await start();
    const s = conn.request(REQUEST);
    const w = watch(s);
    s.write(Buffer.from('hello '));
    s.end(Buffer.from('world'));
    const h = await peer.next((f) => f.type === HEADERS);
    expect(h.stream).toBe(1);
    expect(s.id).toBe(1);
    expect(h.flags).toBe(END_HEADERS);
    expect(decode(h.payload)).toEqual(REQUEST);
    const d = await peer.next(isData(1));
    // One frame for both writes, with END_STREAM on it.
    expect(d.flags).toBe(END_STREAM);
    expect(d.payload.toString()).toBe('hello world');
    await peer.barrier();
    expect(peer.frames.filter((f) => f.stream === 1)).toHaveLength(2);

    peer.send(HEADERS, END_HEADERS, 1, OK_HEADERS);
    peer.send(DATA, 0, 1, Buffer.from('answer'));
    peer.send(HEADERS, END_HEADERS | END_STREAM, 1, encodeHeaders([['grpc-status', '0'], ['x-t', 'a'], ['x-t', 'b']]));
    await w.closed;
    expect(w.seen.response).toEqual([{ ':status': '200', 'content-type': 'application/grpc' }]);
    expect(w.body().toString()).toBe('answer');
    expect(w.seen.trailers).toEqual([{ 'grpc-status': '0', 'x-t': ['a', 'b'] }]);
    expect(s.trailers?.['grpc-status']).toBe('0');
    expect(w.seen.ended).toBe(true);
    expect(s.readableEnded).toBe(true);
    expect(s.rstCode).toBeUndefined();
    expect(s.error).toBeUndefined();
    // Both sides ended: no RST_STREAM.
    await peer.barrier();
    expect(peer.frames.some((f) => f.type === RST_STREAM)).toBe(false);

    // Streams take odd, increasing ids; a request may end with its headers.
    const s2 = conn.request(encodeHeaders(REQUEST), true);
    const h2 = await peer.next((f) => f.type === HEADERS);
    expect(h2.stream).toBe(3);
    expect(h2.flags).toBe(END_HEADERS | END_STREAM);
    expect(s2.id).toBe(3);
    const s3 = conn.request(REQUEST);
    s3.end();
    expect((await peer.next((f) => f.type === HEADERS)).stream).toBe(5);
    const end = await peer.next(isData(5));
    expect(end.flags).toBe(END_STREAM);
    expect(end.payload.length).toBe(0);
  });

  it('ends a trailers-only response, and resets a request still open once the response is complete', async () => {
    const { conn, peer } = await start();
    const ended = conn.request(REQUEST);
    const w1 = watch(ended);
    ended.end(Buffer.from('x'));
    const open = conn.request(REQUEST);
    const w2 = watch(open);
    open.write(Buffer.from('y'));
    await peer.next(isData(3));
    const status = encodeHeaders([[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '5'], ['grpc-message', 'not found']]);
    peer.send(HEADERS, END_HEADERS | END_STREAM, 1, status);
    peer.send(HEADERS, END_HEADERS | END_STREAM, 3, status);
    await w1.closed;
    await w2.closed;
    for (const [s, w] of [[ended, w1], [open, w2]] as const) {
      expect(s.headers?.['grpc-status']).toBe('5');
      expect(s.headers?.['grpc-message']).toBe('not found');
      expect(s.trailers).toBeUndefined();
      expect(w.seen.trailers).toHaveLength(0);
      expect(w.seen.ended).toBe(true);
    }
    const rst = await peer.next((f) => f.type === RST_STREAM);
    expect(rst.stream).toBe(3);
    expect(rst.payload.readUInt32BE(0)).toBe(H2Error.NO_ERROR);
    expect(open.rstCode).toBe(H2Error.NO_ERROR);
    expect(ended.rstCode).toBeUndefined();
    // Writes after the end are refused, and send nothing.
    expect(open.write(Buffer.from('late'))).toBe(false);
    await peer.barrier();
    expect(peer.frames.filter((f) => f.stream === 1 && f.type === RST_STREAM)).toHaveLength(0);
    expect(peer.frames.filter(isData(3))).toHaveLength(1);
  });

  it('assembles response headers from CONTINUATION frames with padding and priority, and splits a large request block', async () => {
    const { conn, peer } = await start();
    const big: HeaderField = ['x-big', 'v'.repeat(40_000)];
    const s = conn.request([...REQUEST, big]);
    const w = watch(s);
    s.end();
    const parts: Buffer[] = [];
    const first = await peer.next((f) => f.type === HEADERS);
    expect(first.flags & END_HEADERS).toBe(0);
    expect(first.payload.length).toBe(16_384);
    parts.push(first.payload);
    for (;;) {
      const f = await peer.next((x) => x.stream === 1);
      expect(f.type).toBe(CONTINUATION);
      expect(f.payload.length).toBeLessThanOrEqual(16_384);
      parts.push(f.payload);
      if (f.flags & END_HEADERS) break;
    }
    expect(decode(Buffer.concat(parts))).toEqual([...REQUEST, big]);

    const block = encodeHeaders([[':status', '200'], ['x-long', 'w'.repeat(100)]]);
    // HEADERS with 3 bytes of padding and a priority section, carrying the first 10 bytes of the block.
    peer.send(HEADERS, PADDED | PRIORITY_FLAG, 1, Buffer.concat([Buffer.from([3]), Buffer.alloc(5), block.subarray(0, 10), Buffer.alloc(3)]));
    peer.send(CONTINUATION, 0, 1, block.subarray(10, 50));
    peer.send(CONTINUATION, END_HEADERS, 1, block.subarray(50));
    peer.send(PRIORITY, 0, 1, Buffer.alloc(5));
    peer.send(DATA, PADDED, 1, Buffer.concat([Buffer.from([4]), Buffer.from('hello'), Buffer.alloc(4)]));
    peer.send(DATA, PADDED, 1, Buffer.from([0]));
    peer.send(DATA, 0, 1, Buffer.from(' world'));
    peer.send(HEADERS, END_HEADERS | END_STREAM | PADDED, 1, Buffer.concat([Buffer.from([2]), OK_TRAILERS, Buffer.alloc(2)]));
    await w.closed;
    expect(s.headers?.['x-long']).toBe('w'.repeat(100));
    expect(w.body().toString()).toBe('hello world');
    expect(s.trailers).toEqual({ 'grpc-status': '0' });
  });

  it('sends a 1 MiB request within the server\'s windows and frame size, the rest after WINDOW_UPDATEs, intact', async () => {
    const { conn, peer } = await start();
    // A gRPC message of 1 MiB: its prefix, then the bytes.
    const message = randomBytes(1 << 20);
    const prefix = Buffer.from([0, 0, 0x10, 0, 0]);
    const body = Buffer.concat([prefix, message]);
    const s = conn.request(REQUEST);
    const w = watch(s);
    expect(s.write(prefix)).toBe(true);
    // Past the stream's high-water mark (1 MiB): the writer is asked to wait.
    expect(s.write(message)).toBe(false);
    s.end();
    const got: Buffer[] = [];
    let received = 0;
    let granted = 65_535;
    let ended = false;
    let rounds = 0;
    while (!ended) {
      await peer.barrier();
      const frames = peer.frames.filter(isData(1));
      for (const f of frames.slice(got.length)) {
        expect(f.payload.length).toBeLessThanOrEqual(16_384);
        got.push(f.payload);
        received += f.payload.length;
        if (f.flags & END_STREAM) ended = true;
      }
      // Never more than the windows allowed, and all of it once they did (stream and connection alike).
      expect(received).toBe(ended ? body.length : granted);
      if (!ended) {
        const inc = 100_000;
        granted += inc;
        // One window, then the other: either alone must hold the data back.
        const [first, second] = ++rounds % 2 === 0 ? [0, 1] : [1, 0];
        peer.send(WINDOW_UPDATE, 0, first, u32(inc));
        await peer.barrier();
        expect(peer.frames.filter(isData(1)).length).toBe(got.length);
        peer.send(WINDOW_UPDATE, 0, second, u32(inc));
      }
    }
    expect(Buffer.concat(got).equals(body)).toBe(true);
    expect(w.seen.drains).toBeGreaterThan(0);
  });

  it('applies a changed initial window to open streams, and a larger frame size', async () => {
    const { conn, peer } = await start({ settings: [[4, 100]] });
    const s = conn.request(REQUEST);
    s.write(Buffer.alloc(50_000, 1));
    s.end();
    await peer.next(isData(1));
    await peer.barrier();
    expect(peer.frames.filter(isData(1)).map((f) => f.payload.length)).toEqual([100]);
    // 30 000 more for the stream (the connection has 65 535 - 100 left), in frames of up to 20 000.
    peer.send(SETTINGS, 0, 0, settingsPayload([[4, 30_100], [5, 20_000]]));
    await peer.next((f) => f.type === SETTINGS && (f.flags & ACK) !== 0);
    await peer.barrier();
    expect(peer.frames.filter(isData(1)).map((f) => f.payload.length)).toEqual([100, 20_000, 10_000]);
    // A window may go below zero (RFC 9113 section 6.9.2): nothing is sent until it is positive again.
    peer.send(SETTINGS, 0, 0, settingsPayload([[4, 100]]));
    peer.send(WINDOW_UPDATE, 0, 1, u32(30_000));
    await peer.barrier();
    expect(peer.frames.filter(isData(1))).toHaveLength(3);
    peer.send(WINDOW_UPDATE, 0, 1, u32(100));
    await peer.barrier();
    expect(peer.frames.filter(isData(1)).map((f) => f.payload.length)).toEqual([100, 20_000, 10_000, 100]);
  });

  it('re-opens a stream\'s window only as its reader consumes, the connection\'s as data arrives, and resets a server that overruns', async () => {
    const { conn, peer } = await start({ client: { streamWindow: 1000, connectionWindow: 100_000 } });
    await peer.next((f) => f.type === WINDOW_UPDATE && f.stream === 0);
    const s = conn.request(REQUEST);
    const w = watch(s);
    s.pause();
    s.end();
    await peer.next(isData(1));
    peer.send(HEADERS, END_HEADERS, 1, OK_HEADERS);
    peer.send(DATA, 0, 1, Buffer.alloc(1000, 1));
    await peer.barrier();
    expect(peer.frames.some((f) => f.type === WINDOW_UPDATE && f.stream === 1)).toBe(false);
    expect(w.seen.data).toHaveLength(0);
    s.resume();
    const wu = await peer.next((f) => f.type === WINDOW_UPDATE && f.stream === 1);
    expect(wu.payload.readUInt32BE(0)).toBe(1000);
    expect(w.body().length).toBe(1000);
    // Overrun: 1000 granted, 1001 sent.
    s.pause();
    peer.send(DATA, 0, 1, Buffer.alloc(1001, 1));
    const rst = await peer.next((f) => f.type === RST_STREAM && f.stream === 1);
    expect(rst.payload.readUInt32BE(0)).toBe(H2Error.FLOW_CONTROL_ERROR);
    await w.closed;
    expect(s.rstCode).toBe(H2Error.FLOW_CONTROL_ERROR);

    // The connection's window (100 000) is re-granted once half of it has arrived, read or not.
    const readers: H2ClientStream[] = [];
    for (let i = 0; i < 60; i++) {
      const r = conn.request(REQUEST, true);
      r.pause();
      readers.push(r);
    }
    await peer.barrier();
    for (const r of readers) {
      peer.send(HEADERS, END_HEADERS, r.id, OK_HEADERS);
      peer.send(DATA, 0, r.id, Buffer.alloc(1000));
    }
    const conWu = await peer.next((f) => f.type === WINDOW_UPDATE && f.stream === 0);
    // 1000 + 1001 before, 50 000 of these: granted at the first frame to reach half.
    expect(conWu.payload.readUInt32BE(0)).toBe(2001 + 48_000);
    await peer.barrier();
    expect(peer.frames.some((f) => f.type === WINDOW_UPDATE && f.stream > 1)).toBe(false);
  });

  it('keeps data that comes before anyone reads, as a Readable does', async () => {
    const { conn, peer } = await start();
    const s = conn.request(REQUEST, true);
    await peer.next((f) => f.type === HEADERS);
    peer.send(HEADERS, END_HEADERS, 1, OK_HEADERS);
    peer.send(DATA, 0, 1, Buffer.from('early'));
    peer.send(HEADERS, END_HEADERS | END_STREAM, 1, OK_TRAILERS);
    await peer.barrier();
    expect(s.readableEnded).toBe(false);
    expect(s.closed).toBe(false);
    const w = watch(s);
    await w.closed;
    expect(w.body().toString()).toBe('early');
    expect(w.seen.ended).toBe(true);
  });

  it('queues streams past the server\'s MAX_CONCURRENT_STREAMS and opens them as others close', async () => {
    const { conn, peer } = await start({ settings: [[3, 2]] });
    const streams = Array.from({ length: 4 }, (_, i) => {
      const s = conn.request(REQUEST);
      s.end(Buffer.from(`body${i}`));
      return { s, w: watch(s) };
    });
    await peer.barrier();
    expect(peer.frames.filter((f) => f.type === HEADERS).map((f) => f.stream)).toEqual([1, 3]);
    expect(streams.map(({ s }) => s.id)).toEqual([1, 3, 0, 0]);
    expect(conn.streamCount).toBe(4);
    // One that waits may be dropped before it opens: it never reaches the wire.
    streams[2]!.s.reset();
    expect(streams[2]!.s.closed).toBe(true);
    peer.send(HEADERS, END_HEADERS | END_STREAM, 1, OK_HEADERS);
    await streams[0]!.w.closed;
    const h = await peer.next((f) => f.type === HEADERS && f.stream === 5);
    expect(decode(h.payload)).toEqual(REQUEST);
    expect(streams[3]!.s.id).toBe(5);
    expect((await peer.next(isData(5))).payload.toString()).toBe('body3');
    // A lower limit holds back new streams until enough have closed.
    peer.send(SETTINGS, 0, 0, settingsPayload([[3, 1]]));
    await peer.next((f) => f.type === SETTINGS && (f.flags & ACK) !== 0);
    const late = conn.request(REQUEST, true);
    peer.send(HEADERS, END_HEADERS | END_STREAM, 3, OK_HEADERS);
    await peer.barrier();
    expect(late.id).toBe(0);
    peer.send(HEADERS, END_HEADERS | END_STREAM, 5, OK_HEADERS);
    await peer.next((f) => f.type === HEADERS && f.stream === 7);
    expect(late.id).toBe(7);
  });

  it('closes a stream the server resets, and resets one on request', async () => {
    const { conn, peer } = await start();
    const a = conn.request(REQUEST);
    const wa = watch(a);
    const b = conn.request(REQUEST);
    const wb = watch(b);
    await peer.next((f) => f.type === HEADERS && f.stream === 3);
    peer.send(HEADERS, END_HEADERS, 1, OK_HEADERS);
    peer.send(RST_STREAM, 0, 1, u32(H2Error.REFUSED_STREAM));
    await wa.closed;
    expect(a.rstCode).toBe(H2Error.REFUSED_STREAM);
    expect(wa.seen.ended).toBe(false);
    b.write(Buffer.from('queued, never sent'));
    b.reset(H2Error.CANCEL);
    await wb.closed;
    const rst = await peer.next((f) => f.type === RST_STREAM);
    expect(rst.stream).toBe(3);
    expect(rst.payload.readUInt32BE(0)).toBe(H2Error.CANCEL);
    expect(b.rstCode).toBe(H2Error.CANCEL);
    // Frames for streams that are gone are dropped; the connection goes on.
    peer.send(DATA, 0, 1, Buffer.from('late'));
    peer.send(HEADERS, END_HEADERS | END_STREAM, 3, OK_TRAILERS);
    peer.send(WINDOW_UPDATE, 0, 3, u32(10));
    await peer.barrier();
    expect(peer.frames.filter(isData(3))).toHaveLength(0);
    expect(conn.closed).toBe(false);
  });

  it('on GOAWAY refuses streams past the last one, lets the others finish, opens no more and then closes', async () => {
    const { conn, peer } = await start({ settings: [[3, 2]] });
    const [one, three, waiting] = [conn.request(REQUEST), conn.request(REQUEST), conn.request(REQUEST)].map((s) => ({ s, w: watch(s) }));
    await peer.next((f) => f.type === HEADERS && f.stream === 3);
    peer.send(GOAWAY, 0, 0, Buffer.concat([u32(1), u32(H2Error.NO_ERROR)]));
    await three!.w.closed;
    await waiting!.w.closed;
    expect(three!.s.rstCode).toBe(H2Error.REFUSED_STREAM);
    expect(waiting!.s.rstCode).toBe(H2Error.REFUSED_STREAM);
    expect(conn.closed).toBe(true);
    expect(() => conn.request(REQUEST)).toThrow();
    expect(one!.s.closed).toBe(false);
    one!.s.end(Buffer.from('still here'));
    expect((await peer.next(isData(1))).payload.toString()).toBe('still here');
    peer.send(HEADERS, END_HEADERS, 1, OK_HEADERS);
    peer.send(DATA, 0, 1, Buffer.from('done'));
    peer.send(HEADERS, END_HEADERS | END_STREAM, 1, OK_TRAILERS);
    await one!.w.closed;
    expect(one!.s.rstCode).toBeUndefined();
    expect(one!.w.body().toString()).toBe('done');
    // Nothing left: the client closes its side.
    await peer.ended;
    expect(peer.frames.filter((f) => f.type === HEADERS).map((f) => f.stream)).toEqual([1, 3]);
  });

  it('fails every stream, open or waiting, when the socket is lost', async () => {
    const { conn, peer } = await start({ settings: [[3, 1]] });
    const open = conn.request(REQUEST);
    const wo = watch(open);
    const queued = conn.request(REQUEST);
    const wq = watch(queued);
    await peer.next((f) => f.type === HEADERS);
    peer.send(HEADERS, END_HEADERS, 1, OK_HEADERS);
    peer.socket.destroy();
    await wo.closed;
    await wq.closed;
    expect(open.error).toBeInstanceOf(Error);
    expect(queued.error).toBeInstanceOf(Error);
    expect(open.rstCode).toBeUndefined();
    expect(wo.seen.ended).toBe(false);
    expect(conn.closed).toBe(true);
    expect(() => conn.request(REQUEST)).toThrow();
  });

  it('fails its streams when the socket cannot connect', async () => {
    const conn = connectH2(connect(join(tmpdir(), 'no-such-dir-h2client', 's.sock')));
    const s = conn.request(REQUEST, true);
    const w = watch(s);
    await w.closed;
    expect((s.error as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect(conn.closed).toBe(true);
    expect(conn.error).toBe(s.error);
  });

  it('answers protocol violations with GOAWAY, closes, and fails its streams', async () => {
    const cases: { name: string; code: number; act: (peer: Peer) => void; settings?: false; client?: Partial<H2ClientOptions> }[] = [
      { name: 'DATA on an idle stream', code: H2Error.PROTOCOL_ERROR, act: (p) => p.send(DATA, 0, 5, Buffer.from('x')) },
      { name: 'HEADERS on a stream of the server\'s', code: H2Error.PROTOCOL_ERROR, act: (p) => p.send(HEADERS, END_HEADERS, 2, OK_HEADERS) },
      { name: 'a push', code: H2Error.PROTOCOL_ERROR, act: (p) => p.send(PUSH_PROMISE, END_HEADERS, 1, Buffer.concat([u32(2), OK_HEADERS])) },
      { name: 'a frame larger than ours', code: H2Error.FRAME_SIZE_ERROR, client: { maxFrameSize: 16_384 }, act: (p) => p.send(DATA, 0, 1, Buffer.alloc(16_385)) },
      { name: 'an undecodable header block', code: H2Error.COMPRESSION_ERROR, act: (p) => p.send(HEADERS, END_HEADERS, 1, Buffer.from('4001618118', 'hex')) },
      { name: 'an interrupted header block', code: H2Error.PROTOCOL_ERROR, act: (p) => { p.send(HEADERS, 0, 1, OK_HEADERS.subarray(0, 1)); p.send(PING, 0, 0, Buffer.alloc(8)); } },
      { name: 'a connection window overflow', code: H2Error.FLOW_CONTROL_ERROR, act: (p) => p.send(WINDOW_UPDATE, 0, 0, u32(2 ** 31 - 1)) },
      { name: 'no SETTINGS first', code: H2Error.PROTOCOL_ERROR, settings: false, act: (p) => p.send(PING, 0, 0, Buffer.alloc(8)) },
    ];
    for (const c of cases) {
      const { conn, peer } = await start({ ...(c.settings === false ? { settings: false as const } : {}), ...(c.client ? { client: c.client } : {}) });
      const s = conn.request(REQUEST);
      const w = watch(s);
      await peer.next((f) => f.type === HEADERS);
      c.act(peer);
      const goaway = await peer.next((f) => f.type === GOAWAY);
      expect(goaway.payload.readUInt32BE(4), c.name).toBe(c.code);
      await peer.ended;
      await w.closed;
      expect(s.error, c.name).toBeInstanceOf(Error);
      expect(conn.closed, c.name).toBe(true);
    }
  });

  it('closes gracefully: GOAWAY, then the socket once its streams are done', async () => {
    const { conn, peer } = await start();
    const s = conn.request(REQUEST, true);
    const w = watch(s);
    await peer.next((f) => f.type === HEADERS);
    conn.close();
    const goaway = await peer.next((f) => f.type === GOAWAY);
    expect(goaway.payload.readUInt32BE(4)).toBe(H2Error.NO_ERROR);
    expect(conn.closed).toBe(true);
    peer.send(HEADERS, END_HEADERS | END_STREAM, 1, OK_HEADERS);
    await w.closed;
    expect(s.rstCode).toBeUndefined();
    await peer.ended;
  });
});
