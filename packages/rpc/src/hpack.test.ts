import { describe, expect, it } from 'vitest';
import { createHpackDecoder, encodeHeaders, HpackError, type HeaderField } from './hpack.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// The examples of RFC 7541 appendix C: three requests on one connection, each depending on the dynamic
// table the ones before left, then three responses with a 256-byte table that forces evictions.
describe('HPACK decoder, RFC 7541 appendix C', () => {
  const requests: [string, HeaderField[]][] = [
    ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']]],
    ['8286 84be 5808 6e6f 2d63 6163 6865', [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']]],
    [
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
      [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
    ],
  ];

  it('C.3: requests without Huffman coding', () => {
    const d = createHpackDecoder();
    for (const [block, fields] of requests) expect(d.decode(hex(block))).toEqual(fields);
  });

  it('C.4: the same requests with Huffman coding', () => {
    const d = createHpackDecoder();
    const huffman = [
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ];
    huffman.forEach((block, i) => expect(d.decode(hex(block))).toEqual(requests[i]![1]));
  });

  it('C.6: responses with Huffman coding, evicting from a 256-byte table', () => {
    const d = createHpackDecoder(256);
    const location = ['location', 'https://www.example.com'] as const;
    expect(d.decode(hex(`4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad
      1718 63c7 8f0b 97c8 e9ae 82ae 43d3`))).toEqual([
      [':status', '302'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], location,
    ]);
    // ':status 302' was evicted to make room for ':status 307'; the rest are indexed.
    expect(d.decode(hex('4883 640e ffc1 c0bf'))).toEqual([
      [':status', '307'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], location,
    ]);
    expect(d.decode(hex(`88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2
      e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07`))).toEqual([
      [':status', '200'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'], location,
      ['content-encoding', 'gzip'], ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
    ]);
  });
});

describe('HPACK decoder errors', () => {
  const bad = (block: string, maxTable?: number) => () => createHpackDecoder(maxTable).decode(hex(block));

  it('refuses an index past both tables', () => {
    expect(bad('be')).toThrow(HpackError); // 62: the dynamic table is empty
    expect(bad('80')).toThrow(HpackError); // index 0
  });

  it('refuses truncated integers and strings', () => {
    expect(bad('ff')).toThrow(HpackError);
    expect(bad('400a 6375')).toThrow(HpackError);
  });

  it('refuses Huffman padding that is not all ones, or longer than 7 bits', () => {
    // 'a' is 00011 (5 bits); padding with 0s instead of 1s.
    expect(bad('4001 61 81 18')).toThrow(HpackError);
    // A whole byte of padding after 'a' (00011111 11111111): 11 bits.
    expect(bad('4001 61 82 1fff')).toThrow(HpackError);
    expect(createHpackDecoder().decode(hex('4001 61 81 1f'))).toEqual([['a', 'a']]);
  });

  it('refuses a table size update above the limit, or after a field', () => {
    expect(bad('3fe2 1f', 4096)).toThrow(HpackError); // 4097
    expect(createHpackDecoder(4096).decode(hex('3fe1 1f 82'))).toEqual([[':method', 'GET']]); // 4096
    expect(bad('82 20')).toThrow(HpackError);
  });

  it('a size update of 0 empties the dynamic table', () => {
    const d = createHpackDecoder();
    d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'));
    expect(d.decode(hex('be'))).toEqual([['custom-key', 'custom-value']]);
    expect(() => d.decode(hex('20 be'))).toThrow(HpackError);
  });
});

describe('HPACK encoder', () => {
  it('round-trips through the decoder without touching the dynamic table', () => {
    const fields: HeaderField[] = [
      [':status', '200'],
      ['content-type', 'application/grpc'],
      ['grpc-status', '13'],
      ['grpc-message', 'x'.repeat(300)],
      ['x-bin', ''],
    ];
    const d = createHpackDecoder();
    const block = encodeHeaders(fields);
    expect(block[0]).toBe(0x88); // ':status 200' is static entry 8
    expect(d.decode(block)).toEqual(fields);
    // Nothing was indexed: index 62 still does not exist.
    expect(() => d.decode(hex('be'))).toThrow(HpackError);
  });
});
