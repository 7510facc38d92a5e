import { describe, expect, it } from 'vitest';
import { copyWriteData, dropLeadingBytes, writeDataLength, writeDataPieces } from './write-data.js';

const pieces = [Buffer.from('abc'), Buffer.from('d'), Buffer.from('efgh')];
const text = (ps: readonly Uint8Array[]) => Buffer.concat(ps).toString();

describe('write data', () => {
  it('measures and copies one buffer or pieces alike', () => {
    expect(writeDataLength(Buffer.from('xyz'))).toBe(3);
    expect(writeDataLength(pieces)).toBe(8);
    expect(writeDataLength([])).toBe(0);
    const target = Buffer.alloc(10, '.');
    expect(copyWriteData(pieces, target, 1)).toBe(9);
    expect(target.toString()).toBe('.abcdefgh.');
    expect(writeDataPieces(Buffer.from('q')).map((p) => Buffer.from(p).toString())).toEqual(['q']);
  });

  it('drops the bytes a short writev took, at every point', () => {
    for (let n = 0; n <= 8; n++) {
      const rest = dropLeadingBytes(pieces, n);
      expect(text(rest), `after ${n}`).toBe('abcdefgh'.slice(n));
      expect(rest.every((p) => p.length > 0), `after ${n}`).toBe(true);
    }
    expect(text(pieces)).toBe('abcdefgh');
  });
});
