import { allOf, always, anyOf, selectorFilter } from './filter.js';
import type { Filter, Operator, Selector } from './filter.js';
import { InvalidFilterError } from './invalid-filter-error.js';
import { unquote } from './quote.js';
import { createScanner, EOF, ILLEGAL } from './scanner.js';
import type { Token } from './scanner.js';

const COMMA = 0x2c;
const DOT = 0x2e;

/**
 * Parses one filter string into the selectors it ANDs together. The grammar
 * is containerd's:
 *
 *     selectors := selector ("," selector)*
 *     selector  := fieldpath (operator value)?
 *     fieldpath := field ("." field)*
 *     field     := quoted | [A-Za-z0-9_-]+
 *     operator  := "==" | "!=" | "~="
 *     value     := quoted | [^\s,]+
 *     quoted    := "..." with Go escapes; /.../ and |...| only after ~=
 *
 * The empty string has no selectors. Throws InvalidFilterError.
 */
export function parseSelectors(input: string): Selector[] {
  if (input === '') return [];
  const scanner = createScanner(input);
  const fail = (pos: number, reason: string): InvalidFilterError =>
    new InvalidFilterError(input, pos, reason);

  const unquoted = (token: Token, allowAltQuotes: boolean): string => {
    // `/` and `|` delimit regular expressions only; elsewhere they are more
    // likely a mistyped label key such as labels.example.com/key.
    if (!allowAltQuotes && !token.text.startsWith('"') && !token.text.startsWith("'")) {
      throw fail(token.pos, 'invalid quote encountered');
    }
    const text = unquote(token.text);
    if (text === undefined) throw fail(token.pos, 'unquoting failed: quote syntax error');
    return text;
  };

  const field = (): string => {
    const token = scanner.scan();
    switch (token.kind) {
      case 'field':
        return token.text;
      case 'quoted':
        return unquoted(token, false);
      case 'illegal':
        throw fail(token.pos, scanner.error);
      default:
        throw fail(token.pos, 'expected field or quoted');
    }
  };

  const fieldpath = (): string[] => {
    const path = [field()];
    while (scanner.peek() === DOT) {
      scanner.scan();
      path.push(field());
    }
    return path;
  };

  const operator = (): Exclude<Operator, '?'> => {
    const token = scanner.scan();
    switch (token.kind) {
      case 'operator':
        if (token.text === '==' || token.text === '!=' || token.text === '~=') return token.text;
        throw fail(token.pos, `unsupported operator "${token.text}"`);
      case 'illegal':
        throw fail(token.pos, scanner.error);
      default:
        throw fail(token.pos, 'expected an operator ("=="|"!="|"~=")');
    }
  };

  const value = (allowAltQuotes: boolean): string => {
    const token = scanner.scan();
    switch (token.kind) {
      case 'value':
      case 'field':
        return token.text;
      case 'quoted':
        return unquoted(token, allowAltQuotes);
      case 'illegal':
        throw fail(token.pos, scanner.error);
      default:
        throw fail(token.pos, 'expected value or quoted');
    }
  };

  const selector = (): Selector => {
    const path = fieldpath();
    // The lookahead does not skip blanks, so `name ` goes on to want an
    // operator, as in containerd.
    const ahead = scanner.peek();
    if (ahead === COMMA || ahead === EOF) return { fieldpath: path, operator: '?', value: '' };
    const op = operator();
    return { fieldpath: path, operator: op, value: value(op === '~=') };
  };

  const selectors = [selector()];
  for (;;) {
    const ahead = scanner.peek();
    if (ahead === EOF) return selectors;
    if (ahead !== COMMA) {
      // Go prints an illegal token as the rune U+FFFD.
      const shown = ahead === ILLEGAL ? '\uFFFD' : String.fromCodePoint(ahead);
      throw fail(scanner.offset, `unexpected input: ${shown}`);
    }
    scanner.scan();
    selectors.push(selector());
  }
}

/** Parses one filter string; the empty string matches everything. */
export function parse(input: string): Filter {
  if (input === '') return always;
  return allOf(parseSelectors(input).map(selectorFilter));
}

/**
 * Parses several filter strings into one filter that matches when any of them
 * does; no strings at all match everything.
 */
export function parseAll(...inputs: string[]): Filter {
  if (inputs.length === 0) return always;
  return anyOf(inputs.map(parse));
}
