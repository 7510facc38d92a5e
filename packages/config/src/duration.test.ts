import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['100ms', 100],
    ['1.5s', 1500],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['0', 0],
    ['250us', 0.25],
  ])('%s is %d ms', (s, ms) => expect(parseDuration(s)).toBe(ms));

  it('reads integers as nanoseconds', () => expect(parseDuration(2_000_000_000)).toBe(2000));

  it.each(['', 's', '10', '1x', '1s junk'])('rejects %j', (s) => expect(() => parseDuration(s)).toThrow(InvalidArgumentError));
});
