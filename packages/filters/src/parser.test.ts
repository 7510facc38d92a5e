import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@flotilla/errdefs';
import type { Operator } from './filter.js';
import { InvalidFilterError } from './invalid-filter-error.js';
import { parse, parseAll, parseSelectors } from './parser.js';

type Sel = readonly [fieldpath: readonly string[], operator: Operator, value: string];

const valid: ReadonlyArray<readonly [string, readonly Sel[]]> = [
  ['', []],
  ['name', [[['name'], '?', '']]],
  ['name==bar', [[['name'], '==', 'bar']]],
  ['name!=bar', [[['name'], '!=', 'bar']]],
  ['labels.foo', [[['labels', 'foo'], '?', '']]],
  [
    'labels.foo,name',
    [
      [['labels', 'foo'], '?', ''],
      [['name'], '?', ''],
    ],
  ],
  ['labels.foo==omg_asdf.asdf-qwer', [[['labels', 'foo'], '==', 'omg_asdf.asdf-qwer']]],
  ['other=="too complex, yo"', [[['other'], '==', 'too complex, yo']]],
  [
    'other~=[abc]+,name!=foo',
    [
      [['other'], '~=', '[abc]+'],
      [['name'], '!=', 'foo'],
    ],
  ],
  ['other~=/[abc]{1,2}/', [[['other'], '~=', '[abc]{1,2}']]],
  ['other~=/[abc]{0,1}"\\//', [[['other'], '~=', '[abc]{0,1}"/']]],
  ['name~=|牛|', [[['name'], '~=', '牛']]],
  ['name~="asdf\\n\\tfooo"', [[['name'], '~=', 'asdf\n\tfooo']]],
  ['labels."more complex label"', [[['labels', 'more complex label'], '?', '']]],
  ['labels."more complex label with \\\\ and \\""==present', [[['labels', 'more complex label with \\ and "'], '==', 'present']]],
  ['labels."more complex label with \\\\ and \\"".post==present', [[['labels', 'more complex label with \\ and "', 'post'], '==', 'present']]],
  ['"leading quote".postquote==value', [[['leading quote', 'postquote'], '==', 'value']]],
  ['labels."a.b"==c', [[['labels', 'a.b'], '==', 'c']]],
  ['a-b_c.d-1', [[['a-b_c', 'd-1'], '?', '']]],
  ['image==docker.io/library/busybox:latest', [[['image'], '==', 'docker.io/library/busybox:latest']]],
  ['a==x=y', [[['a'], '==', 'x=y']]],
  ["a=='x'", [[['a'], '==', "'x'"]]], // single quotes are not quotes
  ['a=="\\xe7\\x89\\x9b"', [[['a'], '==', '牛']]],
  ['a=="\\xff"', [[['a'], '==', '\uFFFD']]],
  ['a=="\\u00e9\\U0001F600\\101\\a"', [[['a'], '==', 'é😀A\x07']]],
  ['a==""', [[['a'], '==', '']]],
  // Blanks may come before a field, an operator or a value, never after one.
  [' name', [[['name'], '?', '']]],
  ['name ==foo', [[['name'], '==', 'foo']]],
  ['name == "foo"', [[['name'], '==', 'foo']]],
  [
    'name==foo,labels.bar,other!=x',
    [
      [['name'], '==', 'foo'],
      [['labels', 'bar'], '?', ''],
      [['other'], '!=', 'x'],
    ],
  ],
];

// Locations and reasons are containerd's, checked against its parser.
const invalid: ReadonlyArray<readonly [string, number, string]> = [
  ['labels.|foo|==omg_asdf.asdf-qwer', 7, '[labels. >|||< foo|==omg_asdf.asdf-qwer]: invalid quote encountered'],
  [
    'labels.?"more complex label with \\\\ and \\"".post==present',
    7,
    '[labels. >|?|< "more complex label with \\\\ and \\"".post==present]: expected field or quoted',
  ],
  ['name==foo,', 10, '[name==foo,]: expected field or quoted'],
  ['labels.', 7, '[labels.]: expected field or quoted'],
  ['image~=,id?=?fbaq', 7, '[image~= >|,|< id?=?fbaq]: expected value or quoted'],
  ['labels.ns/key==value', 9, '[labels.ns >|/|< key==value]: quoted literal not terminated'],
  ['labels.key==/value', 12, '[labels.key== >|/|< value]: quoted literal not terminated'],
  ['name==foo ', 9, '[name==foo >| |< ]: unexpected input:  '],
  ['a=="x" ,b', 6, '[a=="x" >| |< ,b]: unexpected input:  '],
  ['name ', 5, '[name ]: expected an operator ("=="|"!="|"~=")'],
  ['name"x"', 4, '[name >|"|< x"]: expected an operator ("=="|"!="|"~=")'],
  ['name=foo', 4, '[name >|=|< foo]: unsupported operator "="'],
  ['name===foo', 4, '[name >|=|< ==foo]: unsupported operator "==="'],
  ['name!', 4, '[name >|!|< ]: unsupported operator "!"'],
  ['name==.foo', 6, '[name== >|.|< foo]: expected value or quoted'],
  ['name=="foo"bar', 11, '[name=="foo" >|b|< ar]: unexpected input: b'],
  ['name=="a\\gb"', 6, '[name== >|"|< a\\gb"]: illegal escape sequence'],
  ['a=="\\x4"', 3, '[a== >|"|< \\x4"]: illegal numeric escape sequence'],
  ['a=="\\', 3, '[a== >|"|< \\]: illegal escape sequence'],
  ['name=="\\777"', 6, '[name== >|"|< \\777"]: unquoting failed: quote syntax error'],
  ['name=="\\U00110000"', 6, '[name== >|"|< \\U00110000"]: unquoting failed: quote syntax error'],
  ['name==|foo|', 6, '[name== >|||< foo|]: invalid quote encountered'],
  ['a~=/x', 3, '[a~= >|/|< x]: quoted literal not terminated'],
  ['"a\nb"==x', 0, '[ >|"|< a\nb"==x]: quoted literal not terminated'],
  ['name\x00', 4, '[name >|\x00|< ]: unexpected null'],
  ['a==b\x00', 4, '[a==b >|\x00|< ]: unexpected input: \uFFFD'],
  [',', 0, '[ >|,|< ]: expected field or quoted'],
  ['.a', 0, '[ >|.|< a]: expected field or quoted'],
  ['a==b,,c', 5, '[a==b, >|,|< c]: expected field or quoted'],
  ['name,', 5, '[name,]: expected field or quoted'],
  ['a.b.', 4, '[a.b.]: expected field or quoted'],
  // containerd marks one byte, which can be part of a character; here the
  // whole character is marked.
  ['labels.牛', 7, '[labels. >|牛|< ]: expected field or quoted'],
  ['a==\uFFFD', 3, '[a== >|\uFFFD|< ]: rune error'],
];

describe('parseSelectors', () => {
  it.each(valid)('%j', (input, selectors) => {
    const parsed = parseSelectors(input).map((s) => [s.fieldpath, s.operator, s.value]);
    expect(parsed).toEqual(selectors);
  });

  it.each(invalid)('%j fails at %i', (input, position, located) => {
    let caught: unknown;
    try {
      parseSelectors(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidFilterError);
    const error = caught as InvalidFilterError;
    // containerd's ParseAll appends the errdefs kind; so does every errdefs error here.
    expect(error.message).toBe(`filters: parse error: ${located}: invalid argument`);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.position).toBe(position);
    expect(error.input).toBe(input);
    expect(located.endsWith(`: ${error.reason}`)).toBe(true);
    expect(error.name).toBe('InvalidFilterError');
  });
});

describe('parse and parseAll', () => {
  it('throw InvalidFilterError on the first bad string', () => {
    expect(() => parse('name==')).toThrow(InvalidFilterError);
    expect(() => parseAll('name==foo', 'labels.')).toThrow('filters: parse error: [labels.]: expected field or quoted: invalid argument');
  });

  it('accept the empty string', () => {
    expect(() => parse('')).not.toThrow();
    expect(() => parseAll('')).not.toThrow();
    expect(() => parseAll()).not.toThrow();
  });
});
