import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger, normalizeLevel } from './index.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } });
  return { stream, lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('logger', () => {
  it('tags lines with the service and redacts credentials', () => {
    const c = capture();
    const log = createLogger({ service: 'content', level: 'debug', destination: c.stream });
    log.child({ method: 'Write' }).debug({ auth: { password: 'hunter2' }, token: 't' }, 'rpc');
    const [line] = c.lines();
    expect(line).toMatchObject({ service: 'content', method: 'Write', msg: 'rpc', token: '[redacted]' });
    expect(JSON.stringify(line)).not.toContain('hunter2');
  });

  it('accepts containerd level names', () => {
    expect(normalizeLevel('panic')).toBe('fatal');
    expect(normalizeLevel(undefined)).toBe('info');
    expect(() => normalizeLevel('loud')).toThrow(RangeError);
  });
});
