// containerd unquotes with a copy of Go's strconv.Unquote that also accepts
// `/` and `|` as double-quote-like delimiters (for regular expressions). Go
// strings are bytes, so `\x` and octal escapes may produce bytes that are not
// UTF-8; the result is assembled as bytes and decoded once, with any invalid
// sequence becoming U+FFFD.

const BACKSLASH = 0x5c;

// Keeps a leading U+FEFF, which Go would keep as part of the string.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Unquotes a literal delimited by `"`, `/`, `|`, `'` (a single character) or
 * `` ` `` (raw). Returns undefined where Go reports "quote syntax error".
 */
export function unquote(literal: string): string | undefined {
  const n = literal.length;
  if (n < 2) return undefined;
  const quote = literal.charCodeAt(0);
  if (quote !== literal.charCodeAt(n - 1)) return undefined;
  const body = literal.slice(1, n - 1);

  if (quote === 0x60) {
    if (body.includes('`')) return undefined;
    return body.replaceAll('\r', '');
  }
  if (quote !== 0x22 && quote !== 0x27 && quote !== 0x7c && quote !== 0x2f) return undefined;
  if (body.includes('\n')) return undefined;

  const quoteChar = String.fromCharCode(quote);
  if (!body.includes('\\') && !body.includes(quoteChar)) {
    if (quote !== 0x27) return body;
    // Go's check also lets the empty body through, so '' unquotes to "".
    if (body === '' || isSingleCodePoint(body)) return body;
  }

  const bytes: number[] = [];
  let i = 0;
  while (i < body.length) {
    const step = unquoteChar(body, i, quote);
    if (step === undefined) return undefined;
    if (step.multibyte) pushUtf8(bytes, step.value);
    else bytes.push(step.value);
    i = step.next;
    if (quote === 0x27 && i < body.length) return undefined;
  }
  return decoder.decode(Uint8Array.from(bytes));
}

interface Step {
  readonly value: number;
  // True when value is a code point to encode as UTF-8, false when it is a byte.
  readonly multibyte: boolean;
  readonly next: number;
}

function unquoteChar(s: string, i: number, quote: number): Step | undefined {
  const c = s.charCodeAt(i);
  if (c === quote) return undefined;
  if (c >= 0x80) {
    const cp = s.codePointAt(i) ?? c;
    return { value: cp, multibyte: true, next: i + (cp > 0xffff ? 2 : 1) };
  }
  if (c !== BACKSLASH) return { value: c, multibyte: false, next: i + 1 };

  if (i + 1 >= s.length) return undefined;
  const e = s.charCodeAt(i + 1);
  const rest = i + 2;
  switch (e) {
    case 0x61: // a
      return { value: 0x07, multibyte: false, next: rest };
    case 0x62: // b
      return { value: 0x08, multibyte: false, next: rest };
    case 0x66: // f
      return { value: 0x0c, multibyte: false, next: rest };
    case 0x6e: // n
      return { value: 0x0a, multibyte: false, next: rest };
    case 0x72: // r
      return { value: 0x0d, multibyte: false, next: rest };
    case 0x74: // t
      return { value: 0x09, multibyte: false, next: rest };
    case 0x76: // v
      return { value: 0x0b, multibyte: false, next: rest };
    case BACKSLASH:
      return { value: BACKSLASH, multibyte: false, next: rest };
    case 0x78: // x: one raw byte, which need not be UTF-8
    case 0x75: // u
    case 0x55: {
      // U
      const digits = e === 0x78 ? 2 : e === 0x75 ? 4 : 8;
      if (rest + digits > s.length) return undefined;
      let v = 0;
      for (let j = 0; j < digits; j++) {
        const d = hexValue(s.charCodeAt(rest + j));
        if (d === undefined) return undefined;
        v = v * 16 + d;
      }
      if (e === 0x78) return { value: v, multibyte: false, next: rest + digits };
      // Only the range is checked, not surrogates: Go then encodes a
      // surrogate as U+FFFD, and so does pushUtf8.
      if (v > 0x10ffff) return undefined;
      return { value: v, multibyte: true, next: rest + digits };
    }
    case 0x22: // "
    case 0x27: // '
    case 0x2f: // /
    case 0x7c: // |
      return e === quote ? { value: e, multibyte: false, next: rest } : undefined;
    default: {
      if (e < 0x30 || e > 0x37) return undefined;
      if (rest + 2 > s.length) return undefined;
      let v = e - 0x30;
      for (let j = 0; j < 2; j++) {
        const d = s.charCodeAt(rest + j) - 0x30;
        if (d < 0 || d > 7) return undefined;
        v = (v << 3) | d;
      }
      if (v > 255) return undefined;
      return { value: v, multibyte: false, next: rest + 2 };
    }
  }
}

function hexValue(c: number): number | undefined {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return undefined;
}

function isSingleCodePoint(s: string): boolean {
  const cp = s.codePointAt(0);
  if (cp === undefined || (cp >= 0xd800 && cp <= 0xdfff)) return false;
  return s.length === (cp > 0xffff ? 2 : 1);
}

function pushUtf8(bytes: number[], codePoint: number): void {
  const cp = codePoint >= 0xd800 && codePoint <= 0xdfff ? 0xfffd : codePoint;
  if (cp < 0x80) {
    bytes.push(cp);
  } else if (cp < 0x800) {
    bytes.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    bytes.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  } else {
    bytes.push(
      0xf0 | (cp >> 18),
      0x80 | ((cp >> 12) & 0x3f),
      0x80 | ((cp >> 6) & 0x3f),
      0x80 | (cp & 0x3f),
    );
  }
}
