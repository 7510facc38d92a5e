import { describe, expect, it } from 'vitest';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { WriteAction, WriteContentRequestSchema } from '@flotilla/proto/containerd/services/content/v1/content_pb';
import { encodePlainWrite, framePlainWrite, serializeWriteRequest } from './write-request-codec.js';

const reference = (offset: number, data: Uint8Array) =>
  Buffer.from(toBinary(WriteContentRequestSchema, create(WriteContentRequestSchema, { action: WriteAction.WRITE, offset: BigInt(offset), data })));

describe('the hand-laid WRITE', () => {
  const offsets = [0, 1, 127, 128, 300, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER];
  const sizes = [0, 1, 127, 128, 70_000, 1 << 20];
  it('encodes exactly as protobuf-es does', () => {
    for (const offset of offsets) {
      for (const size of sizes) {
        const data = Buffer.alloc(size, size % 251);
        const want = reference(offset, data);
        expect(Buffer.from(encodePlainWrite({ offset, data })).equals(want), `${offset}/${size}`).toBe(true);
        const framed = Buffer.concat(framePlainWrite({ offset, data }));
        expect(framed[0]).toBe(0);
        expect(framed.readUInt32BE(1)).toBe(want.length);
        expect(framed.subarray(5).equals(want), `${offset}/${size} framed`).toBe(true);
      }
    }
  });

  it('reuses a large enough scratch buffer and decodes back', () => {
    const scratch = Buffer.alloc(64);
    const out = encodePlainWrite({ offset: 9, data: Buffer.from('abc') }, scratch);
    expect(out.buffer).toBe(scratch.buffer);
    const msg = fromBinary(WriteContentRequestSchema, out);
    expect([msg.action, msg.offset, Buffer.from(msg.data).toString()]).toEqual([WriteAction.WRITE, 9n, 'abc']);
    expect(encodePlainWrite({ offset: 0, data: Buffer.alloc(100) }, scratch).buffer).not.toBe(scratch.buffer);
  });

  it('passes pre-encoded requests through and encodes the others', () => {
    const encoded = new Uint8Array([1, 2, 3]);
    expect(serializeWriteRequest({ encoded })).toBe(encoded);
    const stat = serializeWriteRequest({ action: WriteAction.STAT, ref: 'r', total: 5n });
    expect(fromBinary(WriteContentRequestSchema, stat)).toMatchObject({ ref: 'r', total: 5n });
  });
});
