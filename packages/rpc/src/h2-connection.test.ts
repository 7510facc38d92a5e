import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHpackDecoder, encodeHeaders, type HeaderField } from './hpack.js';
import { defaultH2ServerOptions, H2Error, serveH2, type H2ServerOptions, type H2Stream } from './h2-connection.js';
import {
  ACK, CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PADDED, PING, PRIORITY_FLAG, RST_STREAM, SETTINGS, WINDOW_UPDATE,
  encodeFrame, settingsPayload, takeFrames, u32, type Frame,
} from './test-support.js';

// Frame-level tests: a raw client writes exactly the frames a case needs and reads back every frame the
// server sends, so each rule of the protocol is checked on the wire, not through another HTTP/2 stack.

const REQUEST: HeaderField[] = [[':method', 'POST'], [':scheme', 'http'], [':path', '/svc/Method'], [':authority', 'localhost'], ['content-type', 'application/grpc']];

interface Client {
  socket: Socket;
  frames: Frame[];
  send(type: number, flags: number, stream: number, payload?: Buffer): void;
  /** Resolves with the first frame (past those already seen) that matches. */
  next(match: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  closed: Promise<void>;
}

let cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function start(onStream: (s: H2Stream) => void, opts: Partial<H2ServerOptions> = {}): Promise<Client> {
  const dir = mkdtempSync(join(tmpdir(), 'h2conn-'));
  const path = join(dir, 's.sock');
  const server: Server = createServer((socket) => { serveH2(socket, onStream, { ...defaultH2ServerOptions, ...opts }); });
  await new Promise<void>((r) => server.listen(path, r));
  const socket = connect(path);
  cleanups.push(() => { socket.destroy(); server.close(); rmSync(dir, { recursive: true, force: true }); });
  const frames: Frame[] = [];
  let seen = 0;
  let buf: Buffer = Buffer.alloc(0);
  const waiters: (() => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    buf = takeFrames(Buffer.concat([buf, chunk]), frames);
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<void>((r) => socket.once('close', () => { r(); for (const w of waiters.splice(0)) w(); }));
  socket.on('error', () => {});
  socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  const client: Client = {
    socket,
    frames,
    send: (type, flags, stream, payload) => { socket.write(encodeFrame(type, flags, stream, payload)); },
    async next(match, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        for (; seen < frames.length; seen++) {
          if (match(frames[seen]!)) return frames[seen++]!;
        }
        if (socket.destroyed || Date.now() > deadline) throw new Error(`no matching frame; got ${JSON.stringify(frames.map((f) => [f.type, f.flags, f.stream]))}`);
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 50); });
      }
    },
    closed,
  };
  return client;
}

/** A stream's request as the handler saw it: headers, the body bytes and whether 'end' came. */
function collector() {
  const streams: { stream: H2Stream; body: Buffer[]; ended: boolean; closed: boolean }[] = [];
  const onStream = (stream: H2Stream) => {
    const entry = { stream, body: [] as Buffer[], ended: false, closed: false };
    streams.push(entry);
    stream.on('data', (c) => entry.body.push(Buffer.from(c)));
    stream.on('end', () => { entry.ended = true; });
    stream.on('close', () => { entry.closed = true; });
  };
  return { streams, onStream };
}

const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
};

describe('HTTP/2 server connection', () => {
  it('opens with its SETTINGS, acknowledges the client\'s and answers PING', async () => {
    const c = await start(() => {});
    const settings = await c.next((f) => f.type === SETTINGS && !(f.flags & ACK));
    const values = new Map<number, number>();
    for (let i = 0; i < settings.payload.length; i += 6) values.set(settings.payload.readUInt16BE(i), settings.payload.readUInt32BE(i + 2));
    expect(values.get(4)).toBe(defaultH2ServerOptions.streamWindow);
    expect(values.get(3)).toBe(defaultH2ServerOptions.maxConcurrentStreams);
    const conn = await c.next((f) => f.type === WINDOW_UPDATE && f.stream === 0);
    expect(conn.payload.readUInt32BE(0)).toBe(defaultH2ServerOptions.connectionWindow - 65_535);
    c.send(SETTINGS, 0, 0, settingsPayload([[4, 1000]]));
    await c.next((f) => f.type === SETTINGS && (f.flags & ACK) !== 0);
    c.send(PING, 0, 0, Buffer.from('12345678'));
    const pong = await c.next((f) => f.type === PING);
    expect(pong.flags & ACK).toBe(ACK);
    expect(pong.payload.toString()).toBe('12345678');
  });

  it('acknowledges a PING ahead of the next output, or alone once the delay is up', async () => {
    const enc = (fields: HeaderField[]) => encodeHeaders(fields);
    const c = await start((s) => {
      s.respond([[':status', '200']]);
      s.end([['grpc-status', '0']]);
    }, { pingAckDelayMs: 60_000 });
    await c.next((f) => f.type === SETTINGS && !(f.flags & ACK));
    c.send(SETTINGS, 0, 0);
    await c.next((f) => f.type === SETTINGS && (f.flags & ACK) !== 0);
    c.send(PING, 0, 0, Buffer.from('waitsfor'));
    // Read by the server well before the request comes, and not answered alone meanwhile.
    await new Promise((r) => setTimeout(r, 100));
    expect(c.frames.some((f) => f.type === PING)).toBe(false);
    c.send(HEADERS, END_HEADERS | END_STREAM, 1, enc(REQUEST));
    const first = await c.next((f) => f.type === PING || f.type === HEADERS);
    expect(first.type).toBe(PING);
    expect(first.flags & ACK).toBe(ACK);
    expect(first.payload.toString()).toBe('waitsfor');
    await c.next((f) => f.type === HEADERS && f.stream === 1);

    const quick = await start(() => {}, { pingAckDelayMs: 20 });
    await quick.next((f) => f.type === SETTINGS && !(f.flags & ACK));
    quick.send(PING, 0, 0, Buffer.from('alone...'));
    const pong = await quick.next((f) => f.type === PING);
    expect(pong.payload.toString()).toBe('alone...');
  });

  it('assembles a header block split over CONTINUATION, with padding and priority, and strips DATA padding', async () => {
    const col = collector();
    const c = await start(col.onStream);
    const block = encodeHeaders([...REQUEST, ['x-long', 'v'.repeat(100)]]);
    // HEADERS with 3 bytes of padding and a priority section, carrying the first 10 bytes of the block.
    const first = Buffer.concat([Buffer.from([3]), Buffer.alloc(5), block.subarray(0, 10), Buffer.alloc(3)]);
    c.send(HEADERS, PADDED | PRIORITY_FLAG, 1, first);
    c.send(CONTINUATION, 0, 1, block.subarray(10, 50));
    c.send(CONTINUATION, END_HEADERS, 1, block.subarray(50));
    c.send(DATA, PADDED, 1, Buffer.concat([Buffer.from([4]), Buffer.from('hello'), Buffer.alloc(4)]));
    c.send(DATA, END_STREAM, 1, Buffer.from(' world'));
    await until(() => col.streams[0]?.ended === true, 'end of request');
    const s = col.streams[0]!;
    expect(s.stream.headers[':path']).toBe('/svc/Method');
    expect(s.stream.headers['x-long']).toBe('v'.repeat(100));
    expect(Buffer.concat(s.body).toString()).toBe('hello world');
  });

  it('sends no more than the client\'s window allows, and the rest after WINDOW_UPDATE, trailers last', async () => {
    const c = await start((s) => {
      s.on('data', () => {});
      s.on('end', () => {
        s.respond([[':status', '200']]);
        s.write(Buffer.alloc(1000, 7));
        s.end([['grpc-status', '0']]);
      });
    });
    c.send(SETTINGS, 0, 0, settingsPayload([[4, 100]]));
    c.send(HEADERS, END_HEADERS | END_STREAM, 1, encodeHeaders(REQUEST));
    const d1 = await c.next((f) => f.type === DATA && f.stream === 1);
    expect(d1.payload.length).toBe(100);
    await new Promise((r) => setTimeout(r, 100));
    expect(c.frames.filter((f) => f.type === DATA).length).toBe(1);
    expect(c.frames.some((f) => f.type === HEADERS && (f.flags & END_STREAM))).toBe(false);
    c.send(WINDOW_UPDATE, 0, 1, u32(900));
    const d2 = await c.next((f) => f.type === DATA && f.stream === 1);
    expect(d2.payload.length).toBe(900);
    const trailers = await c.next((f) => f.type === HEADERS && f.stream === 1 && (f.flags & END_STREAM) !== 0);
    expect(createHpackDecoder().decode(trailers.payload)).toEqual([['grpc-status', '0']]);
  });

  it('re-opens a stream\'s window only as its reader consumes, and resets a client that overruns it', async () => {
    const col = collector();
    let paused: H2Stream | undefined;
    const c = await start((s) => { paused = s; s.pause(); col.onStream(s); }, { streamWindow: 1000 });
    c.send(HEADERS, END_HEADERS, 1, encodeHeaders(REQUEST));
    c.send(DATA, 0, 1, Buffer.alloc(1000, 1));
    await until(() => paused !== undefined, 'stream');
    await new Promise((r) => setTimeout(r, 100));
    expect(c.frames.some((f) => f.type === WINDOW_UPDATE && f.stream === 1)).toBe(false);
    expect(col.streams[0]!.body.length).toBe(0);
    paused!.resume();
    const wu = await c.next((f) => f.type === WINDOW_UPDATE && f.stream === 1);
    expect(wu.payload.readUInt32BE(0)).toBe(1000);
    expect(Buffer.concat(col.streams[0]!.body).length).toBe(1000);
    // Now overrun: 1000 granted, 1001 sent.
    paused!.pause();
    c.send(DATA, 0, 1, Buffer.alloc(1001, 1));
    const rst = await c.next((f) => f.type === RST_STREAM && f.stream === 1);
    expect(rst.payload.readUInt32BE(0)).toBe(H2Error.FLOW_CONTROL_ERROR);
  });

  it('refuses streams past the concurrency limit', async () => {
    const c = await start(() => {}, { maxConcurrentStreams: 1 });
    c.send(HEADERS, END_HEADERS, 1, encodeHeaders(REQUEST));
    c.send(HEADERS, END_HEADERS, 3, encodeHeaders(REQUEST));
    const rst = await c.next((f) => f.type === RST_STREAM);
    expect(rst.stream).toBe(3);
    expect(rst.payload.readUInt32BE(0)).toBe(H2Error.REFUSED_STREAM);
  });

  it('closes a stream the client resets, without ending its request', async () => {
    const col = collector();
    const c = await start(col.onStream);
    c.send(HEADERS, END_HEADERS, 1, encodeHeaders(REQUEST));
    c.send(RST_STREAM, 0, 1, u32(H2Error.CANCEL));
    await until(() => col.streams[0]?.closed === true, 'close');
    expect(col.streams[0]!.ended).toBe(false);
    expect(col.streams[0]!.stream.closed).toBe(true);
  });

  it('tells a client still sending that the response is complete (RST_STREAM NO_ERROR)', async () => {
    const c = await start((s) => {
      s.respond([[':status', '200']]);
      s.end([['grpc-status', '0']]);
    });
    c.send(HEADERS, END_HEADERS, 1, encodeHeaders(REQUEST));
    await c.next((f) => f.type === HEADERS && (f.flags & END_STREAM) !== 0);
    const rst = await c.next((f) => f.type === RST_STREAM && f.stream === 1);
    expect(rst.payload.readUInt32BE(0)).toBe(H2Error.NO_ERROR);
    // DATA the client had in flight is dropped, and the connection stays usable.
    c.send(DATA, END_STREAM, 1, Buffer.from('late'));
    c.send(PING, 0, 0, Buffer.alloc(8));
    await c.next((f) => f.type === PING);
  });

  it('splits a large header block into CONTINUATION frames of the client\'s frame size', async () => {
    const big = 'x'.repeat(40_000);
    const c = await start((s) => {
      s.respond([[':status', '200'], ['x-big', big]], true);
    });
    c.send(HEADERS, END_HEADERS | END_STREAM, 1, encodeHeaders(REQUEST));
    const h = await c.next((f) => f.type === HEADERS && f.stream === 1);
    expect(h.flags & END_HEADERS).toBe(0);
    const parts = [h.payload];
    for (;;) {
      const f = await c.next((x) => x.stream === 1);
      expect(f.type).toBe(CONTINUATION);
      expect(f.payload.length).toBeLessThanOrEqual(16_384);
      parts.push(f.payload);
      if (f.flags & END_HEADERS) break;
    }
    expect(createHpackDecoder().decode(Buffer.concat(parts))).toEqual([[':status', '200'], ['x-big', big]]);
  });

  const goaway = async (c: Client) => {
    const f = await c.next((x) => x.type === GOAWAY);
    await c.closed;
    return f.payload.readUInt32BE(4);
  };

  it('answers protocol violations with GOAWAY and closes', async () => {
    let c = await start(() => {}, { maxFrameSize: 16_384 });
    c.send(DATA, 0, 1, Buffer.alloc(16_385));
    expect(await goaway(c)).toBe(H2Error.FRAME_SIZE_ERROR);

    c = await start(() => {});
    c.send(DATA, 0, 5, Buffer.from('x'));
    expect(await goaway(c)).toBe(H2Error.PROTOCOL_ERROR);

    c = await start(() => {});
    c.send(HEADERS, 0, 1, encodeHeaders(REQUEST).subarray(0, 5));
    c.send(PING, 0, 0, Buffer.alloc(8));
    expect(await goaway(c)).toBe(H2Error.PROTOCOL_ERROR);

    c = await start(() => {});
    // A literal whose Huffman string ends in 0-bit padding.
    c.send(HEADERS, END_HEADERS, 1, Buffer.from('4001618118', 'hex'));
    expect(await goaway(c)).toBe(H2Error.COMPRESSION_ERROR);

    c = await start(() => {});
    c.send(HEADERS, END_HEADERS, 2, encodeHeaders(REQUEST));
    expect(await goaway(c)).toBe(H2Error.PROTOCOL_ERROR);
  });

  it('drops a client that does not speak HTTP/2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'h2conn-'));
    const path = join(dir, 's.sock');
    const server = createServer((socket) => { serveH2(socket, () => {}); });
    await new Promise<void>((r) => server.listen(path, r));
    cleanups.push(() => { server.close(); rmSync(dir, { recursive: true, force: true }); });
    const s = connect(path);
    s.on('error', () => {});
    s.resume(); // read, so the server's close is seen
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((r) => s.once('close', () => r()));
  });
});
