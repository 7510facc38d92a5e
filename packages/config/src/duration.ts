import { InvalidArgumentError } from '@flotilla/errdefs';

const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parse a Go duration string ("1.5s", "100ms", "1m30s") into milliseconds, as containerd's config
 * durations are written. A bare number is taken as nanoseconds, as Go's TOML decoding of an integer
 * time.Duration does.
 */
export function parseDuration(value: string | number | bigint, key = 'duration'): number {
  if (typeof value !== 'string') return Number(value) / 1e6;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (const m of value.matchAll(re)) {
    total += Number(m[1]) * units[m[2]!]!;
    matched += m[0].length;
  }
  if (value === '0') return 0;
  if (matched === 0 || matched !== value.length) throw new InvalidArgumentError(`${key}: invalid duration ${JSON.stringify(value)}`);
  return total;
}
