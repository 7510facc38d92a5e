import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { locateKey, parseToml } from './toml-text.js';

describe('parseToml', () => {
  it('keeps integers apart from floats', () => {
    expect(parseToml('a = 1\nb = 1.0\n', 'f')).toEqual({ a: 1n, b: 1 });
  });

  it('names the file, line and column of a syntax error', () => {
    expect(() => parseToml('a = 1\n[t\n', '/etc/c.toml')).toThrow(InvalidArgumentError);
    expect(() => parseToml('a = 1\n[t\n', '/etc/c.toml')).toThrow(/^\/etc\/c\.toml:2:\d+: /);
  });
});

describe('locateKey', () => {
  const text = `version = 2
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "x"
    s = """
typo = "inside a string"
"""
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
[a]
b.c = 1
`;
  it.each([
    [['version'], 1, 1],
    [['plugins', 'io.containerd.grpc.v1.cri'], 3, 3],
    [['plugins', 'io.containerd.grpc.v1.cri', 'sandbox_image'], 4, 5],
    [['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'snapshotter'], 9, 7],
    [['a', 'b', 'c'], 11, 1],
    [['a', 'b'], 11, 1],
  ] as const)('finds %j at %d:%d', (path, line, column) => {
    expect(locateKey(text, path)).toEqual({ line, column });
  });

  it('does not look inside multi-line strings, and says when it cannot tell', () => {
    expect(locateKey(text, ['plugins', 'io.containerd.grpc.v1.cri', 'typo'])).toBeUndefined();
    expect(locateKey(text, ['nope'])).toBeUndefined();
  });
});
