import { describe, expect, it } from 'vitest';
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { WriteAction, WriteContentResponseSchema } from '@flotilla/proto/containerd/services/content/v1/content_pb';
import { decodeWriteResponse, encodeWriteResponse } from './write-response-codec.js';

type Init = MessageInitShape<typeof WriteContentResponseSchema>;

const int64s = [0n, 1n, 127n, 128n, 300n, 2n ** 32n, 2n ** 49n - 1n, 2n ** 49n, 2n ** 53n + 1n, 2n ** 63n - 1n, -1n, -(2n ** 63n)];
const cases: Init[] = [
  {},
  { action: WriteAction.STAT },
  { action: WriteAction.COMMIT, offset: 1n << 30n, total: 1n << 30n, digest: 'sha256:' + 'f'.repeat(64) },
  { startedAt: {}, updatedAt: { seconds: 0n, nanos: 0 } },
  { startedAt: { seconds: 1_700_000_000n, nanos: 999_999_999 }, updatedAt: { seconds: -5n, nanos: -1 } },
  { action: -3 as WriteAction, digest: 'é' },
  ...int64s.map((v): Init => ({ offset: v, total: BigInt.asIntN(64, -v), startedAt: { seconds: v } })),
];

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('the hand-coded WriteContentResponse', () => {
  it('encodes exactly as protobuf-es does', () => {
    for (const init of cases) {
      const msg = create(WriteContentResponseSchema, init);
      expect(hex(encodeWriteResponse(msg)), JSON.stringify(init, (_, v) => (typeof v === 'bigint' ? String(v) : v))).toBe(hex(toBinary(WriteContentResponseSchema, msg)));
    }
  });

  it('decodes what protobuf-es decodes', () => {
    for (const init of cases) {
      const bytes = toBinary(WriteContentResponseSchema, create(WriteContentResponseSchema, init));
      expect(decodeWriteResponse(bytes)).toEqual(fromBinary(WriteContentResponseSchema, bytes));
    }
  });

  it('leaves unknown fields, repeated timestamps and malformed bytes to protobuf-es', () => {
    const known = toBinary(WriteContentResponseSchema, create(WriteContentResponseSchema, { offset: 5n, startedAt: { seconds: 1n } }));
    const unknown = Buffer.concat([known, Buffer.from([(9 << 3) | 0, 7])]);
    expect(decodeWriteResponse(unknown)).toEqual(fromBinary(WriteContentResponseSchema, unknown));
    const twice = Buffer.concat([known, toBinary(WriteContentResponseSchema, create(WriteContentResponseSchema, { startedAt: { nanos: 3 } }))]);
    expect(decodeWriteResponse(twice).startedAt).toMatchObject({ seconds: 1n, nanos: 3 });
    expect(() => decodeWriteResponse(known.subarray(0, known.length - 1))).toThrow();
  });
});
