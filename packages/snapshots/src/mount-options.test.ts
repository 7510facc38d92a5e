import { describe, expect, it } from 'vitest';
import { MS } from '@flotilla/native';
import { parseMountOptions, parseOverlayData } from './mount-options.js';

describe('parseMountOptions', () => {
  it('turns flag options into mount(2) flags and keeps the rest as data, in order', () => {
    expect(parseMountOptions(['ro', 'rbind'])).toEqual({ flags: MS.MS_RDONLY | MS.MS_BIND | MS.MS_REC, data: [] });
    expect(parseMountOptions(['nosuid', 'size=64k', 'nodev', 'mode=755'])).toEqual({
      flags: MS.MS_NOSUID | MS.MS_NODEV,
      data: ['size=64k', 'mode=755'],
    });
  });

  it('lets a later option clear what an earlier one set', () => {
    expect(parseMountOptions(['ro', 'rw', 'bind']).flags).toBe(MS.MS_BIND);
    expect(parseMountOptions(['nosuid', 'suid']).flags).toBe(0);
    expect(parseMountOptions(['noatime', 'atime', 'relatime']).flags).toBe(MS.MS_RELATIME);
  });

  it('knows the flags the addon does not export', () => {
    expect(parseMountOptions(['sync']).flags).toBe(16);
    expect(parseMountOptions(['sync', 'async']).flags).toBe(0);
    expect(parseMountOptions(['dirsync', 'mand']).flags).toBe(128 | 64);
  });

  it('ignores defaults', () => {
    expect(parseMountOptions(['defaults', 'rw'])).toEqual({ flags: 0, data: [] });
  });
});

describe('parseOverlayData', () => {
  it('splits lowerdir into layers and takes upperdir and workdir apart', () => {
    expect(parseOverlayData(['workdir=/s/2/work', 'upperdir=/s/2/fs', 'lowerdir=/s/1/fs:/s/0/fs', 'index=off', 'userxattr'])).toEqual({
      lowerdirs: ['/s/1/fs', '/s/0/fs'],
      upperdir: '/s/2/fs',
      workdir: '/s/2/work',
      options: ['index=off', 'userxattr'],
    });
  });

  it('leaves out what is not there', () => {
    expect(parseOverlayData(['lowerdir=/a:/b'])).toEqual({ lowerdirs: ['/a', '/b'], options: [] });
  });
});
