import { describe, expect, it } from 'vitest';
import { parse } from 'smol-toml';
import { commentKey, formatToml } from './toml-writer.js';
import { parseToml } from './toml-text.js';
import { sameValue } from './table.js';

describe('formatToml', () => {
  it('writes back exactly what it read: floats stay floats, empty tables stay, arrays of tables stay', () => {
    const text = `
top = "a \\"quoted\\" \\\\ value\\n\\u0001"
whole = 1.0
ratio = 0.02
count = 16777216
big = 9007199254740993
list = [1, 2]
mixed = [[1, "x"], []]
inline = [{ a = 1 }, { b = "c" }]
[empty]
[a.b]
  x = true
  [a.b."dotted.key"]
[[arr]]
  y = 1
[[arr]]
  y = 2
  [arr.sub]
    z = "q"
`;
    const doc = parseToml(text, 'x');
    const out = formatToml(doc);
    expect(sameValue(parse(out, { integersAsBigInt: true }), doc)).toBe(true);
    expect(out).toContain('whole = 1.0\n');
    expect(out).toContain('big = 9007199254740993\n');
    expect(out).toContain('[empty]\n');
    expect(out).toContain('  [a.b."dotted.key"]\n');
  });

  it('writes comments above keys and tables, and a header', () => {
    const out = formatToml({ a: 1n, t: { b: 'x' } }, {
      header: ['head'],
      comments: new Map([[commentKey(['a']), ['about a']], [commentKey(['t']), ['about t']], [commentKey(['t', 'b']), ['about b']]]),
    });
    expect(out).toBe('# head\n# about a\na = 1\n\n# about t\n[t]\n  # about b\n  b = "x"\n');
  });
});
