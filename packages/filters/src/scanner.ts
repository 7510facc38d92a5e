// Sentinels share the number space with code points, as containerd's scanner
// does with runes, so the parser can compare a peeked character against ','
// or EOF without a second type.
export const EOF = -1;
export const ILLEGAL = -2;

export type TokenKind =
  | 'eof'
  | 'quoted'
  | 'value'
  | 'field'
  | 'separator'
  | 'operator'
  | 'illegal'
  // Any other character: containerd hands the rune itself back as the token.
  | 'char';

export interface Token {
  readonly kind: TokenKind;
  /** UTF-16 index of the token's first character in the input. */
  readonly pos: number;
  /** Source text of the token; for `char` the character itself. */
  readonly text: string;
}

export interface Scanner {
  scan(): Token;
  /** The next raw character (no whitespace skipping), EOF or ILLEGAL. */
  peek(): number;
  /** Index just past the last character consumed. */
  readonly offset: number;
  /** First error the scanner met; it sticks for the scanner's lifetime, as containerd's does. */
  readonly error: string;
}

const COMMA = 0x2c;
const DOT = 0x2e;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;

export function createScanner(input: string): Scanner {
  let pos = 0; // start of the character last read
  let ppos = 0; // end of the character last read
  let value = false; // an operator was just read, so what follows is a value
  let error = '';

  const setError = (msg: string): void => {
    if (error === '') error = msg;
  };

  const next = (): number => {
    if (pos >= input.length) return EOF;
    pos = ppos;
    const cp = input.codePointAt(ppos);
    if (cp === undefined) return EOF;
    ppos += cp > 0xffff ? 2 : 1;
    // Go decodes UTF-8 and rejects RuneError, which a literal U+FFFD also
    // decodes to; lone surrogates are what invalid UTF-8 becomes in JS.
    if (cp === 0xfffd || (cp >= 0xd800 && cp <= 0xdfff)) {
      setError('rune error');
      return ILLEGAL;
    }
    if (cp === 0) {
      setError('unexpected null');
      return ILLEGAL;
    }
    return cp;
  };

  const peek = (): number => {
    const savedPos = pos;
    const savedPpos = ppos;
    const ch = next();
    pos = savedPos;
    ppos = savedPpos;
    return ch;
  };

  const skipWhile = (accept: (ch: number) => boolean): void => {
    while (accept(peek())) next();
  };

  const scanDigits = (first: number, base: number, count: number): [number, boolean] => {
    let ch = first;
    let n = count;
    while (n > 0 && digitValue(ch) < base) {
      ch = next();
      n--;
    }
    if (n > 0) {
      setError('illegal numeric escape sequence');
      return [ch, false];
    }
    return [ch, true];
  };

  // Returns the character after the escape and whether the escape was legal.
  // An illegal escape does not end the literal: scanning goes on to the
  // closing quote so the whole literal becomes one illegal token.
  const scanEscape = (quote: number): [number, boolean] => {
    const ch = next();
    switch (ch) {
      case 0x61: // a
      case 0x62: // b
      case 0x66: // f
      case 0x6e: // n
      case 0x72: // r
      case 0x74: // t
      case 0x76: // v
      case BACKSLASH:
      case quote:
        return [next(), true];
      case 0x78: // x
        return scanDigits(next(), 16, 2);
      case 0x75: // u
        return scanDigits(next(), 16, 4);
      case 0x55: // U
        return scanDigits(next(), 16, 8);
      default:
        if (ch >= 0x30 && ch <= 0x37) return scanDigits(ch, 8, 3);
        setError('illegal escape sequence');
        return [ch, false];
    }
  };

  const scanQuoted = (quote: number): boolean => {
    let legal = true;
    let ch = next();
    while (ch !== quote) {
      if (ch === NEWLINE || ch < 0) {
        setError('quoted literal not terminated');
        return false;
      }
      if (ch === BACKSLASH) {
        const [after, ok] = scanEscape(quote);
        ch = after;
        if (!ok) legal = false;
      } else {
        ch = next();
      }
    }
    return legal;
  };

  const scan = (): Token => {
    let ch = next();
    let start = pos;
    for (;;) {
      if (ch === EOF || ch === ILLEGAL) break;
      if (isQuoteRune(ch)) {
        const kind = scanQuoted(ch) ? 'quoted' : 'illegal';
        return { kind, pos: start, text: input.slice(start, ppos) };
      }
      if (isSeparatorRune(ch)) {
        value = false;
        return { kind: 'separator', pos: start, text: input.slice(start, ppos) };
      }
      if (isOperatorRune(ch)) {
        skipWhile(isOperatorRune);
        value = true;
        return { kind: 'operator', pos: start, text: input.slice(start, ppos) };
      }
      if (isSpace(ch)) {
        ch = next();
        start = pos;
        continue;
      }
      // Checked before the field test so that a value may start with any
      // character a field may, and then run on through dots and slashes.
      if (value) {
        skipWhile(isValueRune);
        value = false;
        return { kind: 'value', pos: start, text: input.slice(start, ppos) };
      }
      if (isFieldRune(ch)) {
        skipWhile(isFieldRune);
        return { kind: 'field', pos: start, text: input.slice(start, ppos) };
      }
      break;
    }
    if (ch === EOF) return { kind: 'eof', pos, text: '' };
    if (ch === ILLEGAL) return { kind: 'illegal', pos, text: '' };
    return { kind: 'char', pos, text: String.fromCodePoint(ch) };
  };

  return {
    scan,
    peek,
    get offset() {
      return ppos;
    },
    get error() {
      return error;
    },
  };
}

function digitValue(ch: number): number {
  if (ch >= 0x30 && ch <= 0x39) return ch - 0x30;
  if (ch >= 0x61 && ch <= 0x66) return ch - 0x61 + 10;
  if (ch >= 0x41 && ch <= 0x46) return ch - 0x41 + 10;
  return 16;
}

function isFieldRune(ch: number): boolean {
  return (
    ch === 0x2d || // -
    ch === 0x5f || // _
    (ch >= 0x41 && ch <= 0x5a) ||
    (ch >= 0x61 && ch <= 0x7a) ||
    (ch >= 0x30 && ch <= 0x39)
  );
}

function isOperatorRune(ch: number): boolean {
  return ch === 0x3d || ch === 0x21 || ch === 0x7e; // = ! ~
}

function isQuoteRune(ch: number): boolean {
  return ch === 0x22 || ch === 0x2f || ch === 0x7c; // " / |
}

function isSeparatorRune(ch: number): boolean {
  return ch === COMMA || ch === DOT;
}

// Go's unicode.IsSpace: the Latin-1 blanks plus the White_Space property.
const SPACE = /^\p{White_Space}$/u;

function isSpace(ch: number): boolean {
  return ch >= 0 && SPACE.test(String.fromCodePoint(ch));
}

// Go's IsLetter || IsDigit || IsNumber || IsGraphic || IsPunct, which is the
// categories L, M, N, P, S and Zs; Zs is all white space, excluded anyway.
const VALUE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

function isValueRune(ch: number): boolean {
  return ch >= 0 && ch !== COMMA && !isSpace(ch) && VALUE.test(String.fromCodePoint(ch));
}
