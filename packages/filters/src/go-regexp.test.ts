import { describe, expect, it } from 'vitest';
import { compileRegExp } from './go-regexp.js';

// [pattern, subject, whether Go's regexp.MatchString says it matches]; each
// row was checked against Go.
const matches: ReadonlyArray<readonly [string, string, boolean]> = [
  ['[abc]+', 'too complex, yo', true],
  ['^foo$', 'foo', true],
  ['^foo$', 'xfoo', false],
  ['oo', 'foo', true], // unanchored, like MatchString
  ['', 'anything', true],
  ['^docker\\.io/', 'docker.io/library', true],
  ['\\d+\\.\\d+', '1.2', true],
  // Any ASCII punctuation may be escaped.
  ['a\\-b', 'a-b', true],
  ['a\\_b', 'a_b', true],
  ['\\/', '/', true],
  ['\\ ', ' ', true],
  ['\\#\\"\\,', '#",', true],
  // A brace or bracket that starts nothing is literal.
  ['{', '{', true],
  ['}', '}', true],
  [']', ']', true],
  ['a{1', 'a{1', true],
  ['a{,2}', 'a{,2}', true],
  ['a{,2}', 'aa', false],
  ['a{2}', 'aa', true],
  ['^a{2}$', 'aaa', false],
  ['[]a]+', ']a', true],
  ['[^]a]', ']', false],
  ['[a-]', '-', true],
  ['[\\d-z]', '-', true],
  // Code points, not UTF-16 units.
  ['^.$', '😀', true],
  ['^[^a]$', '😀', true],
  ['^\\x{1F600}$', '😀', true],
  // Go's . excludes only \n; its \s is [\t\n\f\r ].
  ['a.b', 'a\rb', true],
  ['a.b', 'a\u2028b', true],
  ['a.b', 'a\nb', false],
  ['(?s)a.b', 'a\nb', true],
  ['\\s', '\v', false],
  ['\\s', '\u00a0', false],
  ['\\S', '\v', true],
  ['[\\S]', '\v', true],
  ['[^ \\S]', '\v', false],
  ['\\v', '\v', true],
  // Anchors: $ is the end of text unless (?m), where only \n breaks lines.
  ['a$', 'a\n', false],
  ['(?m)^b$', 'a\nb\nc', true],
  ['(?m)^b$', 'a\rb\rc', false],
  ['a\\z', 'a', true],
  ['\\Aa', 'ba', false],
  ['(?m)\\Ab', 'a\nb', false],
  ['^*a', 'a', true],
  ['\\b', 'a b', true],
  ['\\B', 'x😀y', false],
  ['\\B', '😀', true],
  // Flags.
  ['(?i)FOO', 'xfoox', true],
  ['(?is)a.b', 'A\nb', true],
  ['(?i)Σ', 'ς', true],
  ['(?i)k', '\u212a', true],
  ['(?s:a.)b', 'a\nb', true],
  ['(?s:a).b', 'a\nb', false],
  ['(a(?s).)b', 'a\nb', true],
  ['(a(?s))...b', 'a\n\nb', false],
  ['\\d(?i)a', '1A', true],
  ['\\d(?i)a', '1b', false],
  ['1(?i)a', '1A', true],
  ['(?U)a+', 'aa', true],
  ['(?U)^a+?$', 'aa', true],
  ['(?)a', 'a', true],
  ['(?i-s)A.', 'a\n', false],
  // Other Go spellings.
  ['\\Qa.b\\E', 'a.b', true],
  ['\\Qa.b\\E', 'axb', false],
  ['\\Qa.b', 'a.b', true],
  ['\\x61', 'a', true],
  ['\\x{61}', 'a', true],
  ['\\141', 'a', true],
  ['\\0', '\0', true],
  ['\\a', '\x07', true],
  ['\\pL+', 'é', true],
  ['\\PL', 'é', false],
  ['\\p{Greek}', 'α', true],
  ['\\p{^Greek}', 'α', false],
  ['\\p{Lu}', 'a', false],
  ['(?i)\\p{Lu}', 'a', true],
  ['(?i)\\p{^Lu}', 'a', false],
  ['[[:alpha:]]+', 'abc', true],
  ['[[:digit:]]', 'x', false],
  ['[[:space:]]', '\v', true],
  ['[^[:punct:]]', '!', false],
  ['(?P<name>a)b', 'ab', true],
  ['(?:a|b)+', 'abba', true],
  ['\\w', 'é', false],
];

// Patterns Go refuses, and the few valid ones JS cannot express.
const rejected: readonly string[] = [
  '(',
  '[',
  ')',
  'x{2,1}',
  'a{1001}',
  '*a',
  'a**',
  'a++',
  '\\',
  '\\1',
  '(a)\\1',
  '\\8',
  '\\C',
  '\\e',
  '\\k',
  '\\cA',
  '\\xg',
  '\\x{110000}',
  '\\pX',
  '\\p{Nonsense}',
  '[\\b]',
  '[a-\\d]',
  '[z-a]',
  '[[:foo:]]',
  'a(?=b)',
  'a(?!b)',
  '(?<=a)b',
  '(?<!a)b',
  '(?P=name)',
  '(?i-)a',
  '(?-)a',
  '(?i-s-m)a',
  '\\é',
  // Valid Go, but JS has no inline case modifier or class complement.
  'A(?i)b',
  '(?i:a)b',
  '[[:^alpha:]]',
];

describe('compileRegExp', () => {
  it.each(matches)('%j on %j is %s', (pattern, subject, expected) => {
    const re = compileRegExp(pattern);
    expect(re).not.toBeNull();
    expect(re?.test(subject)).toBe(expected);
  });

  it.each(rejected)('%j does not compile', (pattern) => {
    expect(compileRegExp(pattern)).toBeNull();
  });
});
