import { describe, expect, it } from 'vitest';
import { unquote } from './quote.js';

// Go's strconv unquote cases that apply to containerd's copy, plus its
// additions: `/` and `|` delimit like `"`, each escaping only itself.
const valid: ReadonlyArray<readonly [string, string]> = [
  ['""', ''],
  ['"a"', 'a'],
  ['"abc"', 'abc'],
  ['"☺"', '☺'],
  ['"hello world"', 'hello world'],
  ['"\\xFF"', '\uFFFD'], // one byte that is not UTF-8
  ['"\\377"', '\uFFFD'],
  ['"\\xe7\\x89\\x9b"', '牛'], // bytes that together are UTF-8
  ['"\\u1234"', '\u1234'],
  ['"\\U00010111"', '\u{10111}'],
  ['"\\U0001011111"', '\u{10111}11'],
  ['"\\uD800"', '\uFFFD'], // a surrogate is accepted, then written as U+FFFD
  ['"\\a\\b\\f\\n\\r\\t\\v\\\\\\""', '\x07\b\f\n\r\t\v\\"'],
  ['"\'"', "'"],
  ['"/"', '/'],
  ['"|"', '|'],
  ['"\\101\\x41\\u0041"', 'AAA'],
  ["'a'", 'a'],
  ["'☹'", '☹'],
  ["'\\a'", '\x07'],
  ["'\\x10'", '\x10'],
  ["'\\377'", '\uFFFD'],
  ["'\\u1234'", '\u1234'],
  ["'\\U00101234'", '\u{101234}'],
  ["'\\''", "'"],
  ["''", ''], // Go's check of a one-character literal lets the empty one through
  ['`abc`', 'abc'],
  ['`\\n\\x00`', '\\n\\x00'],
  ['`a\r\nb`', 'a\nb'],
  ['`"`', '"'],
  ['/[abc]+/', '[abc]+'],
  ['/foo\\/bar/', 'foo/bar'],
  ['/a"b/', 'a"b'],
  ['/\\\\d/', '\\d'],
  ['|foo/bar|', 'foo/bar'],
  ['|a\\|b|', 'a|b'],
  ['|牛|', '牛'],
  ['"\uFEFFa"', '\uFEFFa'], // a leading BOM is content, not a marker
];

const invalid: readonly string[] = [
  '',
  '"',
  '"a',
  "'a",
  'a"',
  '"\'',
  "'\"",
  "'abc'",
  "'\\400'",
  '"\\777"',
  '"\\x4"',
  '"\\xg0"',
  '"\\u123"',
  '"\\U0011ffff"',
  '"\\q"',
  '"\\"',
  '"a\nb"',
  '"\\\'"', // \' only inside '…'
  '"\\/"',
  '"\\|"',
  '"a"b"',
  '"\\8"',
  '"\\1"',
  '"\\牛"',
  "'\\\"'",
  "''''",
  '`a`b`',
  '`abc\'',
  '/\\"/',
  '/a/b/',
  '|a\\/b|',
  '#abc#',
  '"abc/',
];

describe('unquote', () => {
  it.each(valid)('%j is %j', (literal, text) => {
    expect(unquote(literal)).toBe(text);
  });

  it.each(invalid)('%j is a syntax error', (literal) => {
    expect(unquote(literal)).toBeUndefined();
  });
});
