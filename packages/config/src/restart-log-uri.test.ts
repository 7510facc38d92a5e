import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { restartLogUri } from './restart-log-uri.js';

describe('restartLogUri', () => {
  it('prefers restart.loguri, and reads a lone restart.logpath as its file URI', () => {
    expect(restartLogUri({})).toBeUndefined();
    expect(restartLogUri({ 'containerd.io/restart.loguri': 'binary:///bin/logger?tag=x' })).toEqual({ uri: 'binary:///bin/logger?tag=x', fromLogPath: false });
    expect(restartLogUri({ 'containerd.io/restart.logpath': '/var/log/my app.log' })).toEqual({ uri: 'file:///var/log/my%20app.log', fromLogPath: true });
    expect(restartLogUri({ 'containerd.io/restart.logpath': '/a.log', 'containerd.io/restart.loguri': 'file:///b.log' })).toEqual({ uri: 'file:///b.log', fromLogPath: false });
  });

  it('refuses a relative restart.logpath', () => {
    expect(() => restartLogUri({ 'containerd.io/restart.logpath': 'logs/a.log' })).toThrow(InvalidArgumentError);
  });
});
