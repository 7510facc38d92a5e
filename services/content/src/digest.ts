import { InvalidArgumentError } from '@flotilla/errdefs';

/**
 * Digests as go-digest reads them: `algorithm:encoded`, where the algorithm is one go-digest registers
 * (sha256, sha384, sha512) and the encoded part is lowercase hex of that hash's length. containerd's local
 * store hashes with the expected digest's algorithm when one is given, else sha256; so does ours.
 */
export interface ParsedDigest {
  readonly algorithm: DigestAlgorithm;
  readonly encoded: string;
}

export type DigestAlgorithm = 'sha256' | 'sha384' | 'sha512';

export const CANONICAL: DigestAlgorithm = 'sha256';

/** Hex length per algorithm; the keys are also node:crypto's hash names. */
const HEX_LENGTH: Readonly<Record<DigestAlgorithm, number>> = { sha256: 64, sha384: 96, sha512: 128 };

export const digestAlgorithms = Object.keys(HEX_LENGTH) as readonly DigestAlgorithm[];

// go-digest's DigestRegexp: algorithm components joined by [+._-], then ':' and the encoded part.
const DIGEST = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

export function isAvailable(algorithm: string): algorithm is DigestAlgorithm {
  return Object.hasOwn(HEX_LENGTH, algorithm);
}

/** The reason a digest string is invalid (go-digest's wording), or undefined when it is valid. */
export function digestProblem(s: string): string | undefined {
  const m = DIGEST.exec(s);
  if (!m) return 'invalid checksum digest format';
  const algorithm = m[1]!;
  const encoded = m[2]!;
  if (!isAvailable(algorithm)) return 'unsupported digest algorithm';
  if (encoded.length !== HEX_LENGTH[algorithm]) return 'invalid checksum digest length';
  if (!/^[a-f0-9]+$/.test(encoded)) return 'invalid checksum digest format';
  return undefined;
}

/** Parse a digest; InvalidArgument with `context` in front of go-digest's reason when it is not one. */
export function parseDigest(s: string, context = 'invalid digest'): ParsedDigest {
  const problem = digestProblem(s);
  if (problem !== undefined) throw new InvalidArgumentError(`${context} ${JSON.stringify(s)}: ${problem}`);
  const i = s.indexOf(':');
  return { algorithm: s.slice(0, i) as DigestAlgorithm, encoded: s.slice(i + 1) };
}
