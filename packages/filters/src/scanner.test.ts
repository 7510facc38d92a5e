import { describe, expect, it } from 'vitest';
import { createScanner } from './scanner.js';
import type { TokenKind } from './scanner.js';

// [pos, kind, text, error]; error only for illegal tokens. Positions are
// UTF-16 indices, so they differ from containerd's byte offsets only where a
// character before them is outside ASCII (the 牛 cases).
type Expected = readonly [number, TokenKind, string, string?];

const cases: ReadonlyArray<{ name: string; input: string; tokens: readonly Expected[] }> = [
  { name: 'field', input: 'name', tokens: [[0, 'field', 'name'], [4, 'eof', '']] },
  {
    name: 'selectors with operators',
    input: 'name==value,foo!=bar',
    tokens: [
      [0, 'field', 'name'],
      [4, 'operator', '=='],
      [6, 'value', 'value'],
      [11, 'separator', ','],
      [12, 'field', 'foo'],
      [15, 'operator', '!='],
      [17, 'value', 'bar'],
      [20, 'eof', ''],
    ],
  },
  {
    name: 'selectors with field paths',
    input: 'name==value,labels.foo=value,other.bar~=match',
    tokens: [
      [0, 'field', 'name'],
      [4, 'operator', '=='],
      [6, 'value', 'value'],
      [11, 'separator', ','],
      [12, 'field', 'labels'],
      [18, 'separator', '.'],
      [19, 'field', 'foo'],
      [22, 'operator', '='],
      [23, 'value', 'value'],
      [28, 'separator', ','],
      [29, 'field', 'other'],
      [34, 'separator', '.'],
      [35, 'field', 'bar'],
      [38, 'operator', '~='],
      [40, 'value', 'match'],
      [45, 'eof', ''],
    ],
  },
  {
    name: 'regexp value',
    input: 'name~=[abc]+,foo=test',
    tokens: [
      [0, 'field', 'name'],
      [4, 'operator', '~='],
      [6, 'value', '[abc]+'],
      [12, 'separator', ','],
      [13, 'field', 'foo'],
      [16, 'operator', '='],
      [17, 'value', 'test'],
      [21, 'eof', ''],
    ],
  },
  {
    name: 'regexp escaped value',
    input: 'name~=[abc]\\+,foo=test',
    tokens: [
      [0, 'field', 'name'],
      [4, 'operator', '~='],
      [6, 'value', '[abc]\\+'],
      [13, 'separator', ','],
      [14, 'field', 'foo'],
      [17, 'operator', '='],
      [18, 'value', 'test'],
      [22, 'eof', ''],
    ],
  },
  {
    name: 'regexp quoted value',
    input: 'name~=/[abc]{0,2}/,foo=test',
    tokens: [
      [0, 'field', 'name'],
      [4, 'operator', '~='],
      [6, 'quoted', '/[abc]{0,2}/'],
      [18, 'separator', ','],
      [19, 'field', 'foo'],
      [22, 'operator', '='],
      [23, 'value', 'test'],
      [27, 'eof', ''],
    ],
  },
  {
    name: 'cowsay',
    input: 'name~=牛,labels.moo=true',
    tokens: [
      [0, 'field', 'name'],
      [4, 'operator', '~='],
      [6, 'value', '牛'],
      [7, 'separator', ','],
      [8, 'field', 'labels'],
      [14, 'separator', '.'],
      [15, 'field', 'moo'],
      [18, 'operator', '='],
      [19, 'value', 'true'],
      [23, 'eof', ''],
    ],
  },
  {
    name: 'cowsay regexp quoted',
    input: 'name~=|牛|,labels.moo=true',
    tokens: [
      [0, 'field', 'name'],
      [4, 'operator', '~='],
      [6, 'quoted', '|牛|'],
      [9, 'separator', ','],
      [10, 'field', 'labels'],
      [16, 'separator', '.'],
      [17, 'field', 'moo'],
      [20, 'operator', '='],
      [21, 'value', 'true'],
      [25, 'eof', ''],
    ],
  },
  {
    name: 'escapes',
    input: 'name~="asdf\\n\\tfooo"',
    tokens: [
      [0, 'field', 'name'],
      [4, 'operator', '~='],
      [6, 'quoted', '"asdf\\n\\tfooo"'],
      [20, 'eof', ''],
    ],
  },
  {
    name: 'null input',
    input: 'foo\x00bar',
    tokens: [
      [0, 'field', 'foo'],
      [3, 'illegal', '', 'unexpected null'],
      [4, 'field', 'bar'],
      [7, 'eof', ''],
    ],
  },
  {
    name: 'spaces chomped',
    input: 'foo = bar    ',
    tokens: [
      [0, 'field', 'foo'],
      [4, 'operator', '='],
      [6, 'value', 'bar'],
      [13, 'eof', ''],
    ],
  },
  {
    name: 'values punctuated',
    input: 'compound.labels==punctuated_value.foo-bar',
    tokens: [
      [0, 'field', 'compound'],
      [8, 'separator', '.'],
      [9, 'field', 'labels'],
      [15, 'operator', '=='],
      [17, 'value', 'punctuated_value.foo-bar'],
      [41, 'eof', ''],
    ],
  },
  {
    name: 'partial input',
    input: 'interrupted=',
    tokens: [
      [0, 'field', 'interrupted'],
      [11, 'operator', '='],
      [12, 'eof', ''],
    ],
  },
  {
    name: 'double value',
    input: 'doublevalue=value value',
    tokens: [
      [0, 'field', 'doublevalue'],
      [11, 'operator', '='],
      [12, 'value', 'value'],
      [18, 'field', 'value'],
      [23, 'eof', ''],
    ],
  },
  {
    name: 'leading with quoted',
    input: '"leading quote".postquote==value',
    tokens: [
      [0, 'quoted', '"leading quote"'],
      [15, 'separator', '.'],
      [16, 'field', 'postquote'],
      [25, 'operator', '=='],
      [27, 'value', 'value'],
      [32, 'eof', ''],
    ],
  },
  {
    name: 'missing value',
    input: 'input==,id!=ff',
    tokens: [
      [0, 'field', 'input'],
      [5, 'operator', '=='],
      [7, 'separator', ','],
      [8, 'field', 'id'],
      [10, 'operator', '!='],
      [12, 'value', 'ff'],
      [14, 'eof', ''],
    ],
  },
  {
    name: 'quoted regexp',
    input: 'input~=/foo\\/bar/,id!=ff',
    tokens: [
      [0, 'field', 'input'],
      [5, 'operator', '~='],
      [7, 'quoted', '/foo\\/bar/'],
      [17, 'separator', ','],
      [18, 'field', 'id'],
      [20, 'operator', '!='],
      [22, 'value', 'ff'],
      [24, 'eof', ''],
    ],
  },
  {
    name: 'quoted regexp alt',
    input: 'input~=|foo/bar|,id!=ff',
    tokens: [
      [0, 'field', 'input'],
      [5, 'operator', '~='],
      [7, 'quoted', '|foo/bar|'],
      [16, 'separator', ','],
      [17, 'field', 'id'],
      [19, 'operator', '!='],
      [21, 'value', 'ff'],
      [23, 'eof', ''],
    ],
  },
  {
    name: 'illegal quoted',
    input: 'labels.containerd.io/key==value',
    tokens: [
      [0, 'field', 'labels'],
      [6, 'separator', '.'],
      [7, 'field', 'containerd'],
      [17, 'separator', '.'],
      [18, 'field', 'io'],
      [20, 'illegal', '/key==value', 'quoted literal not terminated'],
      [31, 'eof', ''],
    ],
  },
  {
    name: 'illegal quoted with newline',
    input: 'labels."containerd.io\nkey"==value',
    tokens: [
      [0, 'field', 'labels'],
      [6, 'separator', '.'],
      [7, 'illegal', '"containerd.io\n', 'quoted literal not terminated'],
      [22, 'field', 'key'],
      [25, 'illegal', '"==value', 'quoted literal not terminated'],
      [33, 'eof', ''],
    ],
  },
  {
    name: 'illegal escape sequence',
    input: 'labels."\\g"',
    tokens: [
      [0, 'field', 'labels'],
      [6, 'separator', '.'],
      [7, 'illegal', '"\\g"', 'illegal escape sequence'],
      [11, 'eof', ''],
    ],
  },
  {
    name: 'illegal numeric escape sequence',
    input: 'labels."\\xaz"',
    tokens: [
      [0, 'field', 'labels'],
      [6, 'separator', '.'],
      [7, 'illegal', '"\\xaz"', 'illegal numeric escape sequence'],
      [13, 'eof', ''],
    ],
  },
  // Beyond containerd's table.
  {
    name: 'other characters come back as themselves',
    input: 'labels.?x',
    tokens: [
      [0, 'field', 'labels'],
      [6, 'separator', '.'],
      [7, 'char', '?'],
      [8, 'field', 'x'],
      [9, 'eof', ''],
    ],
  },
  {
    name: 'a value may start like a field and contain operators and quotes',
    input: 'a==b=c"/|.d',
    tokens: [
      [0, 'field', 'a'],
      [1, 'operator', '=='],
      [3, 'value', 'b=c"/|.d'],
      [11, 'eof', ''],
    ],
  },
  {
    name: 'U+FFFD is illegal, as Go cannot tell it from bad UTF-8',
    input: 'a\uFFFDb',
    tokens: [
      [0, 'field', 'a'],
      [1, 'illegal', '', 'rune error'],
      [2, 'field', 'b'],
      [3, 'eof', ''],
    ],
  },
  {
    name: 'a lone surrogate is illegal',
    input: 'a\uD800',
    tokens: [
      [0, 'field', 'a'],
      [1, 'illegal', '', 'rune error'],
      [2, 'eof', ''],
    ],
  },
  {
    // The null ends the first literal and the last quote opens another, whose
    // own error would be "quoted literal not terminated".
    name: 'the first error sticks',
    input: '"\\q\x00"',
    tokens: [
      [0, 'illegal', '"\\q\x00', 'illegal escape sequence'],
      [4, 'illegal', '"', 'illegal escape sequence'],
      [5, 'eof', ''],
    ],
  },
];

describe('scanner', () => {
  it.each(cases)('$name', ({ input, tokens }) => {
    const scanner = createScanner(input);
    const seen: Expected[] = [];
    for (let i = 0; i <= tokens.length; i++) {
      const token = scanner.scan();
      seen.push(
        token.kind === 'illegal'
          ? [token.pos, token.kind, token.text, scanner.error]
          : [token.pos, token.kind, token.text],
      );
      if (token.kind === 'eof') break;
    }
    expect(seen).toEqual(tokens);
    expect(scanner.scan().kind).toBe('eof');
  });

  it('peek neither consumes nor skips blanks', () => {
    const scanner = createScanner(' a');
    expect(scanner.peek()).toBe(0x20);
    expect(scanner.peek()).toBe(0x20);
    expect(scanner.scan()).toEqual({ kind: 'field', pos: 1, text: 'a' });
    expect(scanner.offset).toBe(2);
  });
});
