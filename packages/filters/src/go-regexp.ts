// containerd compiles `~=` values with Go's regexp (RE2 syntax). JS RegExp
// differs in ways that change results on ordinary patterns: Go allows any
// ASCII punctuation to be escaped (`\-`, `\_`), takes a stray `{`, `}` or `]`
// as a literal, has `\z`, `\A`, `\Q…\E`, `\x{…}`, `(?P<name>…)`, POSIX
// classes and `(?i)` flag groups, and its `.`, `\s`, `^` and `$` (under m)
// see only `\n` as a line break. This rewrites those into a unicode-mode JS
// pattern, and refuses what Go refuses (lookaround, backreferences), so that
// a pattern matches what it would in containerd or, where the two cannot
// agree, nothing at all.

// Go's \s: no \v and no Unicode spaces, unlike JS.
const GO_SPACE = '\\t\\n\\f\\r ';
// Its complement, spelt out so it can sit inside a class.
const GO_NON_SPACE = '\\u{0}-\\u{8}\\u{b}\\u{e}-\\u{1f}\\u{21}-\\u{10ffff}';

const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7f',
  blank: '\\t ',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '\\x21-\\x7e',
  lower: 'a-z',
  print: '\\x20-\\x7e',
  punct: '\\x21-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7e',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/** Thrown inside the translator for patterns Go (or this translation) rejects. */
const REJECT = Symbol('reject');

/**
 * Compiles a Go regexp as a JS RegExp with the same meaning, or returns null
 * where Go would fail to compile it or where JS cannot express it (flag
 * groups other than leading ones, `(?U)`, negated POSIX classes).
 */
export function compileRegExp(pattern: string): RegExp | null {
  try {
    const { source, ignoreCase } = translate(pattern);
    return new RegExp(source, ignoreCase ? 'iu' : 'u');
  } catch {
    return null;
  }
}

interface Flags {
  readonly i: boolean;
  readonly m: boolean;
  readonly s: boolean;
  readonly U: boolean;
}

const NO_FLAGS: Flags = { i: false, m: false, s: false, U: false };

function translate(pattern: string): { source: string; ignoreCase: boolean } {
  let out = '';
  let i = 0;
  let flags = NO_FLAGS;
  // Go scopes a flag group to the enclosing parentheses.
  const saved: Flags[] = [];
  // JS (in Node 20) has no inline modifiers, so `i` must hold for the whole
  // pattern; m, s and U are applied here while translating.
  let fold: boolean | undefined;
  const atom = (text: string, caseless = false): void => {
    if (!caseless) {
      fold ??= flags.i;
      if (fold !== flags.i) throw REJECT;
    }
    out += text;
  };
  // Go lets assertions be repeated; JS only lets groups be.
  const assertion = (text: string): void => {
    out += `(?:${text})`;
  };
  const quantifier = (text: string): void => {
    const lazy = pattern[i] === '?';
    if (lazy) i += 1;
    out += lazy !== flags.U ? `${text}?` : text;
  };

  const n = pattern.length;
  while (i < n) {
    const c = pattern[i] ?? '';
    switch (c) {
      case '\\': {
        const e = escape(pattern, i, false);
        i = e.next;
        if ('char' in e) atom(literal(e.char), isCaseless(e.char));
        else if (e.assertion) assertion(e.text);
        else atom(e.text, /^(?:\\[dD]|\[\^?\\t\\n\\f\\r \])$/.test(e.text));
        break;
      }
      case '[': {
        const [text, next] = charClass(pattern, i);
        i = next;
        atom(text);
        break;
      }
      case '(': {
        const group = /^\(\?(?:P?<([A-Za-z0-9_]+)>|([imsU-]*)([:)]))/.exec(pattern.slice(i));
        if (!pattern.startsWith('(?', i)) {
          saved.push(flags);
          out += '(';
          i += 1;
        } else if (group === null) {
          // Lookaround, (?P=name), or a malformed group: Go rejects all.
          throw REJECT;
        } else if (group[1] !== undefined) {
          saved.push(flags);
          out += `(?<${group[1]}>`;
          i += group[0].length;
        } else {
          const changed = applyFlags(flags, group[2] ?? '');
          i += group[0].length;
          if (group[3] === ':') {
            saved.push(flags);
            out += '(?:';
          }
          flags = changed;
        }
        break;
      }
      case ')': {
        const outer = saved.pop();
        if (outer === undefined) throw REJECT;
        flags = outer;
        out += ')';
        i += 1;
        break;
      }
      case '*':
      case '+':
      case '?':
        i += 1;
        quantifier(c);
        break;
      case '{': {
        const repeat = /^\{(\d+)(?:,(\d*))?\}/.exec(pattern.slice(i));
        if (repeat === null) {
          // Not a repetition, so Go takes the brace literally.
          atom('\\{', true);
          i += 1;
          break;
        }
        const min = Number(repeat[1]);
        const max = repeat[2] === undefined || repeat[2] === '' ? min : Number(repeat[2]);
        if (min > 1000 || max > 1000) throw REJECT;
        i += repeat[0].length;
        quantifier(repeat[0]);
        break;
      }
      case '}':
      case ']':
        atom(`\\${c}`, true);
        i += 1;
        break;
      case '.':
        atom(flags.s ? '[\\s\\S]' : '[^\\n]', true);
        i += 1;
        break;
      case '^':
        assertion(flags.m ? '^|(?<=\\n)' : '^');
        i += 1;
        break;
      case '$':
        assertion(flags.m ? '$|(?=\\n)' : '$');
        i += 1;
        break;
      case '|':
        out += '|';
        i += 1;
        break;
      default: {
        const cp = pattern.codePointAt(i) ?? 0;
        i += cp > 0xffff ? 2 : 1;
        atom(literal(cp), isCaseless(cp));
      }
    }
  }
  return { source: out, ignoreCase: fold ?? false };
}

// Go's flag syntax: letters to set, then optionally '-' and letters to clear.
function applyFlags(flags: Flags, spec: string): Flags {
  const [set = '', clear, extra] = spec.split('-');
  if (extra !== undefined || (clear !== undefined && clear === '')) throw REJECT;
  const result = { ...flags };
  for (const f of set) result[f as keyof Flags] = true;
  for (const f of clear ?? '') result[f as keyof Flags] = false;
  return result;
}

type Escape =
  // A single character, which may end a range inside a class.
  | { readonly char: number; readonly next: number }
  // A set or an assertion, spelt out for JS.
  | { readonly text: string; readonly next: number; readonly assertion?: boolean };

// Reads the escape at pattern[i] (a backslash).
function escape(pattern: string, i: number, inClass: boolean): Escape {
  const d = pattern[i + 1];
  if (d === undefined) throw REJECT; // trailing backslash
  const code = d.charCodeAt(0);
  if (code < 0x80 && !isAlnum(code)) return { char: code, next: i + 2 };
  switch (d) {
    case 'a':
      return { char: 0x07, next: i + 2 };
    case 'f':
      return { char: 0x0c, next: i + 2 };
    case 't':
      return { char: 0x09, next: i + 2 };
    case 'n':
      return { char: 0x0a, next: i + 2 };
    case 'r':
      return { char: 0x0d, next: i + 2 };
    case 'v':
      return { char: 0x0b, next: i + 2 };
    case 'd':
    case 'D':
    case 'w':
    case 'W':
      return { text: `\\${d}`, next: i + 2 };
    case 's':
      return { text: inClass ? GO_SPACE : `[${GO_SPACE}]`, next: i + 2 };
    case 'S':
      return { text: inClass ? GO_NON_SPACE : `[^${GO_SPACE}]`, next: i + 2 };
    case 'b':
      if (inClass) throw REJECT;
      return { text: '\\b', next: i + 2, assertion: true };
    case 'B':
      if (inClass) throw REJECT;
      // V8 tries a match between the halves of a surrogate pair, where \B
      // holds; Go never looks inside a character.
      return { text: '\\B(?=[\\u{0}-\\u{d7ff}\\u{e000}-\\u{10ffff}]|$)', next: i + 2, assertion: true };
    case 'A':
      if (inClass) throw REJECT;
      return { text: '^', next: i + 2, assertion: true };
    case 'z':
      if (inClass) throw REJECT;
      return { text: '$', next: i + 2, assertion: true };
    case 'Q': {
      if (inClass) throw REJECT;
      const end = pattern.indexOf('\\E', i + 2);
      const text = pattern.slice(i + 2, end === -1 ? pattern.length : end);
      let out = '';
      for (const ch of text) out += literal(ch.codePointAt(0) ?? 0);
      // A quantifier after \Q…\E applies to its last character, as in Go.
      return { text: out, next: end === -1 ? pattern.length : end + 2 };
    }
    case 'x': {
      if (pattern[i + 2] === '{') {
        const m = /^\{([0-9A-Fa-f]+)\}/.exec(pattern.slice(i + 2));
        if (m === null) throw REJECT;
        const value = parseInt(m[1] ?? '', 16);
        if (value > 0x10ffff) throw REJECT;
        return { char: value, next: i + 2 + m[0].length };
      }
      const m = /^[0-9A-Fa-f]{2}/.exec(pattern.slice(i + 2));
      if (m === null) throw REJECT;
      return { char: parseInt(m[0], 16), next: i + 4 };
    }
    case 'p':
    case 'P':
      return unicodeClass(pattern, i, d === 'P', inClass);
    default: {
      // Go reads \0 and \1-\7 followed by another octal digit as octal;
      // a lone \1-\9 would be a backreference, which it rejects.
      const m = /^(?:0[0-7]{0,2}|[1-7][0-7]{1,2})/.exec(pattern.slice(i + 1));
      if (m === null) throw REJECT;
      return { char: parseInt(m[0], 8), next: i + 1 + m[0].length };
    }
  }
}

function unicodeClass(pattern: string, i: number, negated: boolean, inClass: boolean): Escape {
  let name: string;
  let next: number;
  if (pattern[i + 2] === '{') {
    const end = pattern.indexOf('}', i + 3);
    if (end === -1) throw REJECT;
    name = pattern.slice(i + 3, end);
    next = end + 1;
  } else {
    const ch = pattern[i + 2];
    if (ch === undefined) throw REJECT;
    name = ch;
    next = i + 3;
  }
  let negate = negated;
  if (name.startsWith('^')) {
    negate = !negate;
    name = name.slice(1);
  }
  // Go names categories (Lu) and scripts (Greek) alike; JS wants Script= for
  // the latter.
  if (!/^[A-Za-z_]+$/.test(name)) throw REJECT;
  for (const candidate of [name, `Script=${name}`]) {
    const text = `\\p{${candidate}}`;
    try {
      new RegExp(text, 'u');
      if (!negate) return { text, next };
      // Go folds case before negating; JS does so for [^…] but not for \P.
      return { text: inClass ? `\\P{${candidate}}` : `[^${text}]`, next };
    } catch {
      // try the next spelling
    }
  }
  throw REJECT;
}

// Translates the class starting at pattern[i] ('['), item by item as Go
// parses it: a set (escape or POSIX class), or a character optionally
// followed by '-' and another character. Characters are written as escapes
// so none of them can turn into JS class syntax.
function charClass(pattern: string, i: number): [string, number] {
  let out = '[';
  let j = i + 1;
  if (pattern[j] === '^') {
    out += '^';
    j += 1;
  }
  // Like Go, a ']' or '-' straight after the opening is a literal.
  let first = true;
  const readChar = (): number | string => {
    const c = pattern[j];
    if (c === undefined) throw REJECT;
    if (c === '\\') {
      const e = escape(pattern, j, true);
      j = e.next;
      return 'char' in e ? e.char : e.text;
    }
    if (c === '[' && pattern[j + 1] === ':') {
      const m = /^\[:(\^?)([a-z]+):\]/.exec(pattern.slice(j));
      if (m !== null) {
        const ranges = POSIX_CLASSES[m[2] ?? ''];
        // A negated POSIX class is valid Go, but a JS class cannot hold a
        // complement.
        if (ranges === undefined || m[1] !== '') throw REJECT;
        j += m[0].length;
        return ranges;
      }
    }
    const cp = pattern.codePointAt(j) ?? 0;
    j += cp > 0xffff ? 2 : 1;
    return cp;
  };
  for (;;) {
    const c = pattern[j];
    if (c === undefined) throw REJECT; // missing closing ]
    if (c === ']' && !first) return [`${out}]`, j + 1];
    first = false;
    const lo = readChar();
    if (typeof lo === 'string') {
      out += lo;
      continue;
    }
    if (pattern[j] === '-' && pattern[j + 1] !== undefined && pattern[j + 1] !== ']') {
      j += 1;
      const hi = readChar();
      if (typeof hi === 'string' || hi < lo) throw REJECT;
      out += `${literal(lo)}-${literal(hi)}`;
    } else {
      out += literal(lo);
    }
  }
}

// Whether (?i) leaves the character alone, so it can sit on either side of a
// change of flag.
function isCaseless(codePoint: number): boolean {
  const c = String.fromCodePoint(codePoint);
  return c.toLowerCase() === c && c.toUpperCase() === c;
}

function isAlnum(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}

// A character that means itself in any position of a unicode-mode pattern.
function literal(codePoint: number): string {
  if (isAlnum(codePoint)) return String.fromCharCode(codePoint);
  return `\\u{${codePoint.toString(16)}}`;
}
