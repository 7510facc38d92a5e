import { describe, expect, it } from 'vitest';
import { overlayMounts, type OverlayLayout } from './overlay-mounts.js';

const layout: OverlayLayout = {
  upperPath: (id) => `/root/snapshots/${id}/fs`,
  workPath: (id) => `/root/snapshots/${id}/work`,
  overlayOptions: ['index=off'],
};

describe('overlayMounts', () => {
  it('bind-mounts a snapshot without parent: read-write when active, read-only as a view', () => {
    expect(overlayMounts({ id: '1', kind: 'active', parentIds: [] }, layout)).toEqual([
      { type: 'bind', source: '/root/snapshots/1/fs', target: '', options: ['rw', 'rbind'] },
    ]);
    expect(overlayMounts({ id: '2', kind: 'view', parentIds: [] }, layout)).toEqual([
      { type: 'bind', source: '/root/snapshots/2/fs', target: '', options: ['ro', 'rbind'] },
    ]);
  });

  it('bind-mounts the parent read-only for a view of a single layer', () => {
    expect(overlayMounts({ id: '5', kind: 'view', parentIds: ['3'] }, layout)).toEqual([
      { type: 'bind', source: '/root/snapshots/3/fs', target: '', options: ['ro', 'rbind'] },
    ]);
  });

  it('overlays an active snapshot on its parents, nearest first, with its upper and work directories', () => {
    expect(overlayMounts({ id: '9', kind: 'active', parentIds: ['3'] }, layout)).toEqual([{
      type: 'overlay',
      source: 'overlay',
      target: '',
      options: ['index=off', 'workdir=/root/snapshots/9/work', 'upperdir=/root/snapshots/9/fs', 'lowerdir=/root/snapshots/3/fs'],
    }]);
    expect(overlayMounts({ id: '9', kind: 'active', parentIds: ['7', '3', '1'] }, layout)[0]?.options).toEqual([
      'index=off',
      'workdir=/root/snapshots/9/work',
      'upperdir=/root/snapshots/9/fs',
      'lowerdir=/root/snapshots/7/fs:/root/snapshots/3/fs:/root/snapshots/1/fs',
    ]);
  });

  it('gives a view of several layers only lower directories, which makes it read-only', () => {
    expect(overlayMounts({ id: '9', kind: 'view', parentIds: ['7', '3'] }, layout)).toEqual([{
      type: 'overlay',
      source: 'overlay',
      target: '',
      options: ['index=off', 'lowerdir=/root/snapshots/7/fs:/root/snapshots/3/fs'],
    }]);
  });
});
