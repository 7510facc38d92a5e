import { describe, expect, it } from 'vitest';
import { ResourceExhaustedError } from '@flotilla/errdefs';
import { createFrameDecoder, encodeFrame, HEADER_LENGTH, MessageType, type Frame, type FrameHeader } from './frame.js';

function collector(max?: number) {
  const frames: Frame[] = [];
  const oversized: FrameHeader[] = [];
  const decoder = createFrameDecoder({ frame: (f) => frames.push(f), oversized: (h) => oversized.push(h) }, max);
  return { frames, oversized, decoder };
}

describe('ttrpc frames', () => {
  it('writes the 10-byte big-endian header containerd reads', () => {
    const b = encodeFrame(0x01020304, MessageType.Response, 0x05, Buffer.from('xyz'));
    expect([...b.subarray(0, HEADER_LENGTH)]).toEqual([0, 0, 0, 3, 1, 2, 3, 4, 2, 5]);
    expect(b.subarray(HEADER_LENGTH).toString()).toBe('xyz');
  });

  it('reassembles a frame delivered one byte at a time', () => {
    const { frames, decoder } = collector();
    const b = encodeFrame(7, MessageType.Request, 0, Buffer.from('hello world'));
    for (let i = 0; i < b.length; i++) decoder.push(b.subarray(i, i + 1));
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({ streamId: 7, type: MessageType.Request, length: 11 });
    expect(frames[0]?.payload.toString()).toBe('hello world');
    expect(decoder.buffered).toBe(0);
  });

  it('splits several frames sharing one chunk, and a header split across chunks', () => {
    const { frames, decoder } = collector();
    const all = Buffer.concat([
      encodeFrame(1, MessageType.Request, 0, Buffer.from('a')),
      encodeFrame(3, MessageType.Request, 0, Buffer.alloc(0)),
      encodeFrame(5, MessageType.Data, 2, Buffer.from('ccc')),
    ]);
    decoder.push(all.subarray(0, 15));
    decoder.push(all.subarray(15));
    expect(frames.map((f) => [f.streamId, f.type, f.flags, f.payload.toString()])).toEqual([
      [1, 1, 0, 'a'],
      [3, 1, 0, ''],
      [5, 3, 2, 'ccc'],
    ]);
  });

  it('skips an oversized frame wherever its bytes fall and goes on with the next', () => {
    const { frames, oversized, decoder } = collector(16);
    const big = encodeFrame(9, MessageType.Request, 0, Buffer.alloc(40, 1), 1 << 20);
    const next = encodeFrame(11, MessageType.Request, 0, Buffer.from('ok'));
    const wire = Buffer.concat([big, next]);
    decoder.push(wire.subarray(0, 12));
    expect(oversized).toEqual([]); // told only once its payload is gone
    decoder.push(wire.subarray(12, 30));
    decoder.push(wire.subarray(30));
    expect(oversized).toEqual([{ length: 40, streamId: 9, type: 1, flags: 0 }]);
    expect(frames.map((f) => [f.streamId, f.payload.toString()])).toEqual([[11, 'ok']]);
  });

  it('refuses to encode a payload over the limit', () => {
    expect(() => encodeFrame(1, MessageType.Request, 0, Buffer.alloc(17), 16)).toThrow(ResourceExhaustedError);
  });
});
