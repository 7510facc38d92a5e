import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { ServerError, Status } from 'nice-grpc-common';
import { frame, readMessageParts, readMessages, readOneMessage } from './h2-framing.js';

const MAX = 1024;

/** Deterministic bytes, different for every (seed, length). */
function bytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761 + length) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const wire = (...messages: Uint8Array[]): Buffer => Buffer.concat(messages.map((m) => frame(m)));

/** A stream that delivers exactly these chunks (as DATA frames would). */
const source = (chunks: Uint8Array[]): Readable => Readable.from(chunks.map((c) => Buffer.from(c)));
/** Like an HTTP/2 stream's readable side: reaching its end does not destroy it (the response is still to be sent). */
const duplexLike = (chunks: Uint8Array[]): Readable => Readable.from(chunks.map((c) => Buffer.from(c)), { autoDestroy: false });

async function readAll(chunks: Uint8Array[], max = MAX): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const m of readMessages(source(chunks), max)) out.push(m);
  return out;
}

/** Read until the first error; what was read and the error. */
async function readUntilError(chunks: Uint8Array[], max = MAX): Promise<{ got: Uint8Array[]; err: unknown }> {
  const got: Uint8Array[] = [];
  try {
    for await (const m of readMessages(source(chunks), max)) got.push(m);
  } catch (err) {
    return { got, err };
  }
  return { got, err: undefined };
}

function expectServerError(err: unknown, code: Status, message?: RegExp): void {
  expect(err).toBeInstanceOf(ServerError);
  expect(Status[(err as ServerError).code]).toBe(Status[code]);
  if (message) expect((err as ServerError).details).toMatch(message);
}

const hex = (ms: Uint8Array[]) => ms.map((m) => Buffer.from(m).toString('hex'));

describe('frame', () => {
  it('writes flag 0, a big-endian u32 length and the bytes', () => {
    expect(frame(new Uint8Array([0xaa, 0xbb, 0xcc])).toString('hex')).toBe('0000000003aabbcc');
    expect(frame(new Uint8Array(0)).toString('hex')).toBe('0000000000');
    const big = frame(new Uint8Array(0x010203));
    expect(big.length).toBe(5 + 0x010203);
    expect(big.subarray(0, 5).toString('hex')).toBe('0000010203');
  });
});

describe('readMessages', () => {
  const messages = [bytes(1, 7), bytes(2, 0), bytes(3, 1), bytes(4, 300), bytes(5, 5)];
  const all = wire(...messages);

  it('reads messages split at every byte boundary', async () => {
    for (let k = 0; k <= all.length; k++) {
      const got = await readAll([all.subarray(0, k), all.subarray(k)]);
      expect(hex(got), `split at ${k}`).toEqual(hex(messages));
    }
  });

  it('reads messages split at every pair of byte boundaries', async () => {
    const small = wire(bytes(6, 3), bytes(7, 0), bytes(8, 9));
    const expected = hex([bytes(6, 3), bytes(7, 0), bytes(8, 9)]);
    for (let i = 0; i <= small.length; i++) {
      for (let j = i; j <= small.length; j++) {
        const got = await readAll([small.subarray(0, i), small.subarray(i, j), small.subarray(j)]);
        expect(hex(got), `split at ${i},${j}`).toEqual(expected);
      }
    }
  });

  it('reads messages delivered one byte at a time', async () => {
    const chunks = [...all].map((b) => new Uint8Array([b]));
    expect(hex(await readAll(chunks))).toEqual(hex(messages));
  });

  it('reads many messages from one chunk, and chunks holding the end of one and the start of the next', async () => {
    const many = Array.from({ length: 1000 }, (_, i) => bytes(i, i % 37));
    const buf = wire(...many);
    expect(hex(await readAll([buf]))).toEqual(hex(many));
    // Irregular chunk sizes that cut through headers and bodies alike.
    const chunks: Uint8Array[] = [];
    for (let at = 0, n = 1; at < buf.length; at += n, n = (n * 7 + 3) % 61 + 1) chunks.push(buf.subarray(at, at + n));
    expect(chunks.length).toBeGreaterThan(100);
    expect(hex(await readAll(chunks))).toEqual(hex(many));
  });

  it('yields zero-length messages', async () => {
    const got = await readAll([wire(new Uint8Array(0), new Uint8Array(0)), wire(new Uint8Array(0))]);
    expect(got.map((m) => m.length)).toEqual([0, 0, 0]);
  });

  it('reads nothing from an empty stream', async () => {
    expect(await readAll([])).toEqual([]);
  });

  it('hands out a message inside one chunk as a view of it, and assembles a split one into its own buffer', async () => {
    // node:http2 gives every DATA chunk a fresh buffer and never writes to it again, so a view is safe and
    // saves copying bulk bytes; a message split across chunks must not alias either chunk.
    const whole = Buffer.from(wire(bytes(9, 4)));
    const split = Buffer.from(wire(bytes(10, 6)));
    const got: Uint8Array[] = [];
    for await (const m of readMessages(Readable.from([whole, split.subarray(0, 7), split.subarray(7)]), MAX)) got.push(m);
    expect(hex(got)).toEqual(hex([bytes(9, 4), bytes(10, 6)]));
    expect(got[0]!.buffer).toBe(whole.buffer);
    split.fill(0);
    expect(hex([got[1]!])).toEqual(hex([bytes(10, 6)]));
  });

  it('leaves the stream open when the reader stops early or refuses a message (the server still has to answer on it)', async () => {
    const early = duplexLike([wire(bytes(30, 3), bytes(31, 3), bytes(32, 3))]);
    for await (const m of readMessages(early, MAX)) {
      expect(m.length).toBe(3);
      break;
    }
    expect(early.destroyed).toBe(false);

    const compressed = Buffer.from(frame(bytes(33, 4)));
    compressed[0] = 1;
    const refused = duplexLike([compressed]);
    await expect((async () => { for await (const _ of readMessages(refused, MAX)) { /* none */ } })()).rejects.toBeInstanceOf(ServerError);
    expect(refused.destroyed).toBe(false);

    const oversize = duplexLike([wire(bytes(34, MAX + 1))]);
    await expect((async () => { for await (const _ of readMessages(oversize, MAX)) { /* none */ } })()).rejects.toBeInstanceOf(ServerError);
    expect(oversize.destroyed).toBe(false);
  });

  it('accepts a message of exactly the maximum size and refuses one byte more', async () => {
    const exact = bytes(11, MAX);
    expect(hex(await readAll([wire(exact)]))).toEqual(hex([exact]));
    const { got, err } = await readUntilError([wire(bytes(12, 3), bytes(13, MAX + 1))]);
    expect(hex(got)).toEqual(hex([bytes(12, 3)]));
    expectServerError(err, Status.RESOURCE_EXHAUSTED, new RegExp(`${MAX + 1} vs\\. ${MAX}`));
  });

  it('refuses an oversize message from its header alone, before the body arrives', async () => {
    const header = Buffer.from([0, 0xff, 0xff, 0xff, 0xff]);
    // An endless body: the reader must not wait for it.
    async function* endless() {
      yield header;
      for (;;) { await new Promise((r) => setImmediate(r)); yield Buffer.alloc(64); }
    }
    let err: unknown;
    try {
      for await (const _ of readMessages(Readable.from(endless()), MAX)) { /* none */ }
    } catch (e) { err = e; }
    expectServerError(err, Status.RESOURCE_EXHAUSTED);
  });

  it('refuses a compressed message', async () => {
    const compressed = Buffer.from(frame(bytes(14, 4)));
    compressed[0] = 1;
    const { got, err } = await readUntilError([wire(bytes(15, 2)), compressed]);
    expect(hex(got)).toEqual(hex([bytes(15, 2)]));
    expectServerError(err, Status.UNIMPLEMENTED, /compressed/);
  });

  it('refuses a stream that ends inside a message body or header', async () => {
    const full = wire(bytes(16, 10), bytes(17, 10));
    for (const cut of [full.length - 1, 15 + 3, 15 + 5, 16]) {
      const { got, err } = await readUntilError([full.subarray(0, cut)]);
      expect(hex(got), `cut at ${cut}`).toEqual(hex([bytes(16, 10)]));
      expectServerError(err, Status.INTERNAL, /ended inside a message/);
    }
    const { got, err } = await readUntilError([full.subarray(0, 3)]);
    expect(got).toEqual([]);
    expectServerError(err, Status.INTERNAL);
  });
});

describe('readMessageParts', () => {
  async function readParts(chunks: Uint8Array[]): Promise<(readonly Uint8Array[])[]> {
    const out: (readonly Uint8Array[])[] = [];
    for await (const m of readMessageParts(source(chunks), MAX)) out.push(m);
    return out;
  }
  const joined = (ms: (readonly Uint8Array[])[]) => ms.map((m) => Buffer.concat(m).toString('hex'));
  const messages = [bytes(40, 7), bytes(41, 0), bytes(42, 300), bytes(43, 1)];
  const all = wire(...messages);

  it('reads the same messages as readMessages, split at every byte boundary', async () => {
    for (let k = 0; k <= all.length; k++) {
      expect(joined(await readParts([all.subarray(0, k), all.subarray(k)])), `split at ${k}`).toEqual(hex(messages));
    }
    expect(joined(await readParts([...all].map((b) => new Uint8Array([b]))))).toEqual(hex(messages));
  });

  it('gives a message as views of the chunks it arrived in, one per chunk, none empty', async () => {
    const body = bytes(44, 100);
    const framed = wire(body);
    const chunks = [framed.subarray(0, 30), framed.subarray(30, 31), framed.subarray(31)].map((c) => Buffer.from(c));
    const [parts] = await readParts(chunks);
    expect(parts!.map((p) => p.length)).toEqual([25, 1, 74]);
    parts!.forEach((p, i) => expect(p.buffer).toBe(chunks[i]!.buffer));
    expect(Buffer.concat(parts!).equals(Buffer.from(body))).toBe(true);
  });

  it('refuses what readMessages refuses', async () => {
    const compressed = Buffer.from(frame(bytes(45, 4)));
    compressed[0] = 1;
    for (const [chunks, code] of [[[compressed], Status.UNIMPLEMENTED], [[wire(bytes(46, MAX + 1))], Status.RESOURCE_EXHAUSTED], [[all.subarray(0, all.length - 1)], Status.INTERNAL]] as const) {
      let err: unknown;
      try {
        await readParts([...chunks]);
      } catch (e) { err = e; }
      expectServerError(err, code);
    }
  });
});

describe('readOneMessage', () => {
  const message = bytes(20, 40);
  const one = wire(message);

  it('reads one message split at every byte boundary', async () => {
    for (let k = 0; k <= one.length; k++) {
      const got = await readOneMessage(source([one.subarray(0, k), one.subarray(k)]), MAX);
      expect(Buffer.from(got).toString('hex'), `split at ${k}`).toBe(Buffer.from(message).toString('hex'));
    }
    const bytewise = await readOneMessage(source([...one].map((b) => new Uint8Array([b]))), MAX);
    expect(Buffer.from(bytewise).equals(Buffer.from(message))).toBe(true);
  });

  it('reads a zero-length message', async () => {
    const got = await readOneMessage(source([wire(new Uint8Array(0))]), MAX);
    expect(got.length).toBe(0);
  });

  it('accepts exactly the maximum size and refuses one byte more', async () => {
    const exact = bytes(21, MAX);
    const got = await readOneMessage(source([wire(exact)]), MAX);
    expect(Buffer.from(got).equals(Buffer.from(exact))).toBe(true);
    const over = wire(bytes(22, MAX + 1));
    const err = await readOneMessage(source([over.subarray(0, 100), over.subarray(100)]), MAX).then(() => undefined, (e: unknown) => e);
    expectServerError(err, Status.RESOURCE_EXHAUSTED, new RegExp(`${MAX + 1} vs\\. ${MAX}`));
  });

  it('refuses a compressed message', async () => {
    const compressed = Buffer.from(one);
    compressed[0] = 1;
    const err = await readOneMessage(source([compressed]), MAX).then(() => undefined, (e: unknown) => e);
    expectServerError(err, Status.UNIMPLEMENTED, /compressed/);
  });

  it('refuses a truncated message, a truncated header and an empty stream', async () => {
    for (const cut of [one.length - 1, 5, 6]) {
      const err = await readOneMessage(source([one.subarray(0, cut)]), MAX).then(() => undefined, (e: unknown) => e);
      expectServerError(err, Status.INTERNAL, /ended inside a message/);
    }
    for (const chunks of [[one.subarray(0, 4)], []]) {
      const err = await readOneMessage(source(chunks), MAX).then(() => undefined, (e: unknown) => e);
      expectServerError(err, Status.INTERNAL, /no request message/);
    }
  });

  it('refuses two messages where one is expected', async () => {
    const err = await readOneMessage(source([wire(message, message)]), MAX).then(() => undefined, (e: unknown) => e);
    expectServerError(err, Status.INTERNAL, /too many/);
  });

  it('reports CANCELLED when the stream is destroyed before it ends', async () => {
    const stream = new Readable({ read() {} });
    const p = readOneMessage(stream, MAX);
    stream.push(one.subarray(0, 10));
    setImmediate(() => stream.destroy());
    const err = await p.then(() => undefined, (e: unknown) => e);
    expectServerError(err, Status.CANCELLED);
  });
});
