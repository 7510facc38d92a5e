import { describe, expect, it } from 'vitest';
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { WriteAction, WriteContentRequestSchema } from '@flotilla/proto/containerd/services/content/v1/content_pb';
import { decodeWriteRequestParts, type IncomingWriteRequest } from './write-request-decoder.js';
import { writeDataPieces } from './write-data.js';

const encode = (init: MessageInitShape<typeof WriteContentRequestSchema>) =>
  Buffer.from(toBinary(WriteContentRequestSchema, create(WriteContentRequestSchema, init)));

/** Deterministic bytes. */
const bytes = (seed: number, length: number) => Buffer.from(Array.from({ length }, (_, i) => (seed * 31 + i * 7) & 0xff));

/** The message cut into pieces at the given positions. */
const cut = (msg: Uint8Array, at: number[]): Uint8Array[] => {
  const out: Uint8Array[] = [];
  let from = 0;
  for (const to of [...at, msg.length]) {
    if (to > from) out.push(msg.subarray(from, to));
    from = Math.max(from, to);
  }
  return out;
};

/** Every field but the data, and the data as one buffer. */
const plain = (req: IncomingWriteRequest) => ({
  action: req.action,
  ref: req.ref,
  total: req.total,
  expected: req.expected,
  offset: req.offset,
  labels: { ...req.labels },
  data: Buffer.concat(writeDataPieces(req.data)).toString('hex'),
});

const full = encode({
  action: WriteAction.COMMIT,
  ref: 'layer-sha256:abc',
  total: 70_000n,
  expected: 'sha256:' + 'a'.repeat(64),
  offset: 2n ** 40n + 3n,
  data: bytes(1, 300),
  labels: { 'containerd.io/gc.ref.content.l.0': 'sha256:' + 'b'.repeat(64), x: 'y' },
});

describe('decodeWriteRequestParts', () => {
  it('decodes what protobuf-es decodes, however the message is cut', () => {
    const want = plain(fromBinary(WriteContentRequestSchema, full));
    for (let i = 0; i <= full.length; i += 3) {
      expect(plain(decodeWriteRequestParts(cut(full, [i]))), `cut at ${i}`).toEqual(want);
      for (let j = i; j <= full.length; j += 17) {
        expect(plain(decodeWriteRequestParts(cut(full, [i, j]))), `cut at ${i},${j}`).toEqual(want);
      }
    }
    const bytewise = [...full].map((b) => new Uint8Array([b]));
    expect(plain(decodeWriteRequestParts(bytewise))).toEqual(want);
  });

  it('leaves the data in the pieces it arrived in, uncopied', () => {
    const msg = encode({ action: WriteAction.WRITE, offset: 5n, data: bytes(2, 1000) });
    const pieces = cut(Buffer.from(msg), [3, 400, 800]);
    const req = decodeWriteRequestParts(pieces);
    const data = writeDataPieces(req.data);
    expect(data.length).toBe(3);
    for (const d of data) expect(pieces.some((p) => p.buffer === d.buffer && d.byteOffset >= p.byteOffset)).toBe(true);
    expect(Buffer.concat(data).equals(bytes(2, 1000))).toBe(true);
    // Within one piece, the data is a single view.
    const whole = decodeWriteRequestParts(cut(Buffer.from(msg), [2]));
    expect(Array.isArray(whole.data)).toBe(false);
    expect(Buffer.from(whole.data as Uint8Array).equals(bytes(2, 1000))).toBe(true);
  });

  it('decodes requests without data, empty messages and messages of one piece', () => {
    const stat = encode({ action: WriteAction.STAT, ref: 'r', total: 9n });
    expect(plain(decodeWriteRequestParts(cut(stat, [1, 2])))).toMatchObject({ action: WriteAction.STAT, ref: 'r', total: 9n, data: '' });
    expect(plain(decodeWriteRequestParts([new Uint8Array(0)]))).toMatchObject({ action: WriteAction.STAT, ref: '', data: '' });
    expect(plain(decodeWriteRequestParts([full]))).toEqual(plain(fromBinary(WriteContentRequestSchema, full)));
  });

  it('keeps the last data field, as protobuf-es does', () => {
    const twice = Buffer.concat([encode({ data: bytes(3, 50), ref: 'a' }), encode({ data: bytes(4, 20), offset: 7n })]);
    const want = plain(fromBinary(WriteContentRequestSchema, twice));
    expect(want.data).toBe(bytes(4, 20).toString('hex'));
    expect(plain(decodeWriteRequestParts(cut(twice, [10, 60])))).toEqual(want);
  });

  it('skips unknown fields of every wire type', () => {
    const unknown = Buffer.from([
      (99 << 3 | 0) & 0x7f | 0x80, 99 >> 4, 0x96, 0x01, // field 99 varint 150
      (98 << 3 | 1) & 0x7f | 0x80, 98 >> 4, 1, 2, 3, 4, 5, 6, 7, 8, // field 98 fixed64
      (97 << 3 | 5) & 0x7f | 0x80, 97 >> 4, 1, 2, 3, 4, // field 97 fixed32
      (96 << 3 | 2) & 0x7f | 0x80, 96 >> 4, 3, 9, 9, 9, // field 96 bytes
    ]);
    const msg = Buffer.concat([unknown, full]);
    const want = plain(fromBinary(WriteContentRequestSchema, msg));
    for (let i = 0; i <= unknown.length + 4; i++) expect(plain(decodeWriteRequestParts(cut(msg, [i, i + 40]))), `cut at ${i}`).toEqual(want);
  });

  it('leaves what it does not expect to protobuf-es', () => {
    // The data field as a varint: protobuf-es decides what that means.
    const odd = Buffer.concat([encode({ ref: 'r' }), Buffer.from([6 << 3 | 0, 5])]);
    const whole = (() => { try { return plain(fromBinary(WriteContentRequestSchema, odd)); } catch (err) { return String(err); } })();
    const parts = (() => { try { return plain(decodeWriteRequestParts(cut(odd, [2]))); } catch (err) { return String(err); } })();
    expect(parts).toEqual(whole);
    // A message cut short inside the data is refused, as protobuf-es refuses it.
    const short = full.subarray(0, full.length - 200);
    expect(() => fromBinary(WriteContentRequestSchema, short)).toThrow();
    expect(() => decodeWriteRequestParts(cut(short, [7, 50]))).toThrow();
  });
});
