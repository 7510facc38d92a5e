import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from './hpack-huffman-table.js';

/**
 * HPACK (RFC 7541), as much as a gRPC server needs: a complete decoder (static and dynamic tables, every
 * representation, Huffman strings), and an encoder that never indexes. Never indexing keeps the encoder
 * stateless, so a response can be encoded once and reused; the peer's decoder is not affected either way.
 */

/** A header block the peer sent that cannot be decoded: a connection error (COMPRESSION_ERROR). */
export class HpackError extends Error {
  override readonly name = 'HpackError';
}

/** One decoded field, name first, in the order the block listed them. */
export type HeaderField = readonly [name: string, value: string];

const STATIC: readonly HeaderField[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

/** The Huffman code as a binary tree in flat arrays: child[2n] for a 0 bit, child[2n+1] for a 1 bit. */
const HUFFMAN_TREE = (() => {
  // 256 symbols need 255 internal nodes; a negative entry is a leaf, -(symbol + 1); 0 means no child yet.
  const child = new Int32Array(2 * 256);
  let nodes = 1;
  HUFFMAN_CODES.forEach((code, sym) => {
    const len = HUFFMAN_LENGTHS[sym]!;
    let node = 0;
    for (let bit = len - 1; bit > 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1);
      if (child[slot] === 0) child[slot] = nodes++;
      node = child[slot]!;
    }
    child[2 * node + (code & 1)] = -(sym + 1);
  });
  return child;
})();

function huffmanDecode(src: Uint8Array, start: number, end: number): string {
  // The shortest code is 5 bits, so n bytes hold at most 8n/5 symbols.
  const out = Buffer.allocUnsafe(Math.ceil(((end - start) * 8) / 5));
  let len = 0;
  let node = 0;
  // Bits read since the last whole symbol, and whether they were all 1s: what may legally end the string.
  let pending = 0;
  let ones = true;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >>> bit) & 1;
      const next = HUFFMAN_TREE[2 * node + b]!;
      if (next === 0) throw new HpackError('invalid Huffman code');
      pending++;
      ones &&= b === 1;
      if (next < 0) {
        out[len++] = -next - 1;
        node = 0;
        pending = 0;
        ones = true;
      } else {
        node = next;
      }
    }
  }
  // Padding is the start of the end-of-string code: at most 7 bits, all 1s.
  if (pending > 7 || !ones) throw new HpackError('invalid Huffman padding');
  return out.toString('latin1', 0, len);
}

export interface HpackDecoder {
  /** Decode one whole header block (HEADERS plus CONTINUATIONs), updating the dynamic table. */
  decode(block: Buffer): HeaderField[];
}

/**
 * A decoder for one connection's header blocks. `maxTableSize` is our SETTINGS_HEADER_TABLE_SIZE: the
 * peer may shrink its table below it but never grow past it.
 */
export function createHpackDecoder(maxTableSize = 4096): HpackDecoder {
  // Newest last; index 62 is the newest entry.
  const table: HeaderField[] = [];
  let tableSize = 0;
  let limit = maxTableSize;

  const evict = () => {
    while (tableSize > limit) {
      const [n, v] = table.shift()!;
      tableSize -= n.length + v.length + 32;
    }
  };
  const lookup = (index: number): HeaderField => {
    if (index === 0) throw new HpackError('header index 0');
    if (index <= STATIC.length) return STATIC[index - 1]!;
    const entry = table[table.length - (index - STATIC.length)];
    if (!entry) throw new HpackError(`header index ${index} is past the dynamic table`);
    return entry;
  };

  return {
    decode(block) {
      const fields: HeaderField[] = [];
      let pos = 0;
      const integer = (prefixBits: number): number => {
        const mask = (1 << prefixBits) - 1;
        let value = block[pos++]! & mask;
        if (value < mask) return value;
        let shift = 0;
        for (;;) {
          if (pos >= block.length) throw new HpackError('truncated integer');
          const b = block[pos++]!;
          value += (b & 0x7f) * 2 ** shift;
          shift += 7;
          if ((b & 0x80) === 0) break;
          if (shift > 28) throw new HpackError('integer too large');
        }
        return value;
      };
      const string = (): string => {
        if (pos >= block.length) throw new HpackError('truncated string');
        const huffman = (block[pos]! & 0x80) !== 0;
        const len = integer(7);
        const end = pos + len;
        if (end > block.length) throw new HpackError('truncated string');
        const s = huffman ? huffmanDecode(block, pos, end) : block.toString('latin1', pos, end);
        pos = end;
        return s;
      };
      let fieldsSeen = false;
      while (pos < block.length) {
        const b = block[pos]!;
        if (b & 0x80) {
          fields.push(lookup(integer(7)));
          fieldsSeen = true;
        } else if (b & 0x40) {
          const index = integer(6);
          const name = index === 0 ? string() : lookup(index)[0];
          const field: HeaderField = [name, string()];
          fields.push(field);
          fieldsSeen = true;
          table.push(field);
          tableSize += name.length + field[1].length + 32;
          evict();
        } else if (b & 0x20) {
          // A table size update is only allowed at the start of a block.
          if (fieldsSeen) throw new HpackError('table size update after a header field');
          const size = integer(5);
          if (size > maxTableSize) throw new HpackError(`table size ${size} exceeds the ${maxTableSize} allowed`);
          limit = size;
          evict();
        } else {
          // Literal without indexing (0000) or never indexed (0001): neither touches the table.
          const index = integer(4);
          const name = index === 0 ? string() : lookup(index)[0];
          fields.push([name, string()]);
          fieldsSeen = true;
        }
      }
      return fields;
    },
  };
}

function encodeInteger(out: number[], value: number, prefixBits: number, first: number): void {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out.push(first | value);
    return;
  }
  out.push(first | mask);
  value -= mask;
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

function encodeString(out: number[], s: string): void {
  const bytes = Buffer.from(s, 'latin1');
  encodeInteger(out, bytes.length, 7, 0);
  for (const b of bytes) out.push(b);
}

/** Static-table indexes by name, and by name and value, for the encoder. */
const STATIC_NAME = new Map<string, number>();
const STATIC_FIELD = new Map<string, number>();
STATIC.forEach(([name, value], i) => {
  if (!STATIC_NAME.has(name)) STATIC_NAME.set(name, i + 1);
  if (value) STATIC_FIELD.set(`${name}\0${value}`, i + 1);
});

/**
 * Encode a header block without touching any dynamic table: a field the static table holds whole is one
 * byte, every other field a literal "without indexing" (with the static name index where there is one).
 * Names must be lowercase; values are sent as bytes (latin1), which is all HTTP/2 field values may be.
 */
export function encodeHeaders(fields: Iterable<HeaderField>): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const full = STATIC_FIELD.get(`${name}\0${value}`);
    if (full !== undefined) {
      encodeInteger(out, full, 7, 0x80);
      continue;
    }
    const nameIndex = STATIC_NAME.get(name);
    if (nameIndex !== undefined) {
      encodeInteger(out, nameIndex, 4, 0);
    } else {
      out.push(0);
      encodeString(out, name);
    }
    encodeString(out, value);
  }
  return Buffer.from(out);
}
