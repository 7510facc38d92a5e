import { describe, expect, it } from 'vitest';
import { adaptFields } from './adapt-fields.js';
import { allOf, always, anyOf, selectorFilter } from './filter.js';
import type { Adaptor, Filter } from './filter.js';
import { InvalidFilterError } from './invalid-filter-error.js';
import { parse, parseAll } from './parser.js';

interface Entry {
  name: string;
  other?: string;
  labels?: Record<string, string>;
}

// containerd's filter_test.go corpus; cases refer to entries by index.
const corpus: readonly Entry[] = [
  { name: 'foo', labels: { foo: 'true' } },
  { name: 'bar' },
  { name: 'foo', labels: { foo: 'present', 'more complex label': 'present' } },
  { name: 'bar', labels: { bar: 'true' } },
  { name: 'fooer', labels: { 'more complex label with \\ and "': 'present' } },
  { name: 'fooer', labels: { 'more complex label with \\ and ".post': 'present' } },
  { name: 'baz', other: 'too complex, yo' },
  { name: 'bazo', other: 'abc' },
  { name: 'compound', labels: { foo: 'omg_asdf.asdf-qwer' } },
];

// The adaptor of containerd's test, written out by hand rather than with
// adaptFields so the cases exercise the filter alone.
function adapt(entry: Entry): Adaptor {
  return {
    field(fieldpath) {
      switch (fieldpath[0]) {
        case 'name':
          return { value: entry.name, present: entry.name !== '' };
        case 'other':
          return { value: entry.other ?? '', present: (entry.other ?? '') !== '' };
        case 'labels': {
          const key = fieldpath.slice(1).join('.');
          const labels = entry.labels ?? {};
          return Object.hasOwn(labels, key) ? { value: labels[key] ?? '', present: true } : { value: '', present: false };
        }
        default:
          return { value: '', present: false };
      }
    },
  };
}

const all = corpus.map((_, i) => i);

const cases: ReadonlyArray<readonly [name: string, input: string, matches: readonly number[]]> = [
  ['Empty', '', all],
  ['Present', 'name', all],
  ['LabelPresent', 'labels.foo', [0, 2, 8]],
  ['NameAndLabelPresent', 'labels.foo,name', [0, 2, 8]],
  ['LabelValue', 'labels.foo==true', [0]],
  ['LabelValuePunctuated', 'labels.foo==omg_asdf.asdf-qwer', [8]],
  ['Name', 'name==bar', [1, 3]],
  ['NameNotEqual', 'name!=bar', [0, 2, 4, 5, 6, 7, 8]],
  ['NameAndLabelPresent', 'name==bar,labels.bar', [3]],
  ['QuotedValue', 'other=="too complex, yo"', [6]],
  ['RegexpValue', 'other~=[abc]+,name!=foo', [6, 7]],
  ['RegexpQuotedValue', 'other~=/[abc]+/,name!=foo', [6, 7]],
  ['RegexpQuotedValue', 'other~=/[abc]{1,2}/,name!=foo', [6, 7]],
  ['RegexpQuotedValueGarbage', 'other~=/[abc]{0,1}"\\//,name!=foo', []],
  ['NameAndLabelValue', 'name==bar,labels.bar==true', [3]],
  ['NameAndLabelValueNoMatch', 'name==bar,labels.bar==wrong', []],
  ['LabelQuotedFieldPathPresent', 'name==foo,labels."more complex label"', [2]],
  ['LabelQuotedFieldPathPresentWithQuoted', 'labels."more complex label with \\\\ and \\""==present', [4]],
  ['LabelQuotedFieldPathPresentWithQuotedEmbed', 'labels."more complex label with \\\\ and \\"".post==present', [5]],
  // Beyond containerd's table.
  ['NotEqualOnAbsentField', 'other!=abc', [0, 1, 2, 3, 4, 5, 6, 8]],
  ['NotEqualEmptyOnAbsentField', 'other!=""', [6, 7]],
  ['EqualEmptyNeedsPresence', 'other==""', []],
  ['RegexpOnAbsentFieldSeesEmpty', 'other~=^$', [0, 1, 2, 3, 4, 5, 8]],
  ['RegexpAltQuote', 'name~=|^ba|', [1, 3, 6, 7]],
  ['RegexpIsUnanchored', 'name~=oo', [0, 2, 4, 5]],
  ['InvalidRegexpMatchesNothing', 'name~=(', []],
  ['InvalidRegexpMatchesNothingEvenNegated', 'name!=foo,name~=[', []],
];

const errors: ReadonlyArray<readonly [name: string, input: string, message: string]> = [
  [
    'LabelValueNoAltQuoting',
    'labels.|foo|==omg_asdf.asdf-qwer',
    'filters: parse error: [labels. >|||< foo|==omg_asdf.asdf-qwer]: invalid quote encountered',
  ],
  [
    'LabelQuotedFieldPathPresentWithQuotedEmbedInvalid',
    'labels.?"more complex label with \\\\ and \\"".post==present',
    'filters: parse error: [labels. >|?|< "more complex label with \\\\ and \\"".post==present]: expected field or quoted',
  ],
  ['TrailingComma', 'name==foo,', 'filters: parse error: [name==foo,]: expected field or quoted'],
  ['TrailingFieldSeparator', 'labels.', 'filters: parse error: [labels.]: expected field or quoted'],
  ['MissingValue', 'image~=,id?=?fbaq', 'filters: parse error: [image~= >|,|< id?=?fbaq]: expected value or quoted'],
  [
    'FieldQuotedLiteralNotTerminated',
    'labels.ns/key==value',
    'filters: parse error: [labels.ns >|/|< key==value]: quoted literal not terminated',
  ],
  [
    'ValueQuotedLiteralNotTerminated',
    'labels.key==/value',
    'filters: parse error: [labels.key== >|/|< value]: quoted literal not terminated',
  ],
];

const matching = (filter: Filter): number[] => all.filter((i) => filter.match(adapt(corpus[i] ?? { name: '' })));

describe('filters', () => {
  it.each(cases)('%s: %j', (_, input, matches) => {
    expect(matching(parse(input))).toEqual(matches);
  });

  it.each(errors)('%s: %j', (_, input, message) => {
    expect(() => parse(input)).toThrow(InvalidFilterError);
    expect(() => parse(input)).toThrow(message);
  });

  it('parseAll ORs its filters', () => {
    expect(matching(parseAll('name==bar', 'labels.foo==true'))).toEqual([0, 1, 3]);
    expect(matching(parseAll('name==bar,labels.bar', 'other'))).toEqual([3, 6, 7]);
    expect(matching(parseAll('name==nothing'))).toEqual([]);
  });

  it('parseAll with no filters, or an empty one, matches everything', () => {
    expect(matching(parseAll())).toEqual(all);
    expect(matching(parseAll(''))).toEqual(all);
    expect(matching(parseAll('name==nothing', ''))).toEqual(all);
  });

  it('asks the adaptor for the parsed field path', () => {
    const asked: string[][] = [];
    const adaptor: Adaptor = {
      field(fieldpath) {
        asked.push([...fieldpath]);
        return { value: '', present: false };
      },
    };
    parse('labels."a.b".c,x.y~=z').match(adaptor);
    expect(asked).toEqual([['labels', 'a.b', 'c']]);
    parse('x.y~=z').match(adaptor);
    expect(asked).toEqual([['labels', 'a.b', 'c'], ['x', 'y']]);
  });

  it('keeps a compiled regexp across matches', () => {
    const filter = parse('name~=^ba');
    expect(matching(filter)).toEqual([1, 3, 6, 7]);
    expect(matching(filter)).toEqual([1, 3, 6, 7]);
  });
});

describe('combinators', () => {
  const yes = selectorFilter({ fieldpath: ['name'], operator: '?', value: '' });
  const no = selectorFilter({ fieldpath: ['missing'], operator: '?', value: '' });
  const entry = adapt({ name: 'x' });

  it('always matches', () => {
    expect(always.match(entry)).toBe(true);
  });

  it('anyOf needs one match and matches nothing when empty', () => {
    expect(anyOf([no, yes]).match(entry)).toBe(true);
    expect(anyOf([no, no]).match(entry)).toBe(false);
    expect(anyOf([]).match(entry)).toBe(false);
  });

  it('allOf needs every match and matches everything when empty', () => {
    expect(allOf([yes, yes]).match(entry)).toBe(true);
    expect(allOf([yes, no]).match(entry)).toBe(false);
    expect(allOf([]).match(entry)).toBe(true);
  });
});

describe('adaptFields', () => {
  const container = adaptFields(
    { id: 'c1', image: 'docker.io/library/busybox:latest', 'runtime.name': 'io.containerd.runc.v2', snapshotter: '' },
    { 'a.b': 'dotted', plain: 'yes', empty: '' },
  );
  const field = (path: readonly string[]) => container.field(path);

  it('reads scalar fields, present when non-empty', () => {
    expect(field(['id'])).toEqual({ value: 'c1', present: true });
    expect(field(['snapshotter'])).toEqual({ value: '', present: false });
    expect(field(['nope'])).toEqual({ value: '', present: false });
    expect(field([])).toEqual({ value: '', present: false });
  });

  it('reads nested fields by their dotted key', () => {
    expect(field(['runtime', 'name'])).toEqual({ value: 'io.containerd.runc.v2', present: true });
    expect(field(['runtime'])).toEqual({ value: '', present: false });
    expect(field(['runtime', 'options'])).toEqual({ value: '', present: false });
  });

  it('ignores segments after a scalar, as containerd adaptors do', () => {
    expect(field(['id', 'x'])).toEqual({ value: 'c1', present: true });
  });

  it('reads labels by the rest of the path joined with dots, present even when empty', () => {
    expect(field(['labels', 'plain'])).toEqual({ value: 'yes', present: true });
    expect(field(['labels', 'a.b'])).toEqual({ value: 'dotted', present: true });
    expect(field(['labels', 'a', 'b'])).toEqual({ value: 'dotted', present: true });
    expect(field(['labels', 'empty'])).toEqual({ value: '', present: true });
    expect(field(['labels', 'missing'])).toEqual({ value: '', present: false });
    expect(field(['labels', 'constructor'])).toEqual({ value: '', present: false });
  });

  it('works with parsed filters', () => {
    expect(parse('labels."a.b"==dotted,id==c1').match(container)).toBe(true);
    expect(parse('labels.a.b==dotted').match(container)).toBe(true);
    expect(parse('image~=^docker\\.io/library/').match(container)).toBe(true);
    expect(parse('runtime.name==io.containerd.runc.v2').match(container)).toBe(true);
    expect(parse('labels.empty').match(container)).toBe(true);
    expect(parse('snapshotter').match(container)).toBe(false);
  });

  it('without labels, reports label paths absent', () => {
    expect(adaptFields({ name: 'x' }).field(['labels', 'a'])).toEqual({ value: '', present: false });
  });
});
