import { describe, expect, it } from 'vitest';
import { containerNode, contentNode, isRoot, labelBackReferences, labelReferences, snapshotNode } from './references.js';

describe('gc labels', () => {
  it('read references as containerd does: content by family, snapshots by snapshotter', () => {
    expect(labelReferences('n', {
      'containerd.io/gc.ref.content': 'sha256:a',
      'containerd.io/gc.ref.content.l.0': 'sha256:b',
      'containerd.io/gc.ref.content/m': 'sha256:c',
      'containerd.io/gc.ref.contents': 'sha256:not-a-ref',
      'containerd.io/gc.ref.snapshot.overlayfs': 'chain-1',
      'containerd.io/gc.ref.snapshot.overlayfs/2': 'chain-2',
      'containerd.io/gc.ref.snapshot.blockfile': 'chain-3',
      'containerd.io/gc.root': 'x',
      other: 'sha256:d',
    })).toEqual([
      contentNode('n', 'sha256:a'),
      contentNode('n', 'sha256:b'),
      contentNode('n', 'sha256:c'),
      snapshotNode('n', 'overlayfs', 'chain-1'),
      snapshotNode('n', 'overlayfs', 'chain-2'),
      snapshotNode('n', 'blockfile', 'chain-3'),
    ]);
  });

  it('read back references and roots', () => {
    expect(labelBackReferences('n', {
      'containerd.io/gc.bref.content.owner': 'sha256:a',
      'containerd.io/gc.bref.snapshot.overlayfs/x': 'top',
      'containerd.io/gc.bref.container': 'c1',
      'containerd.io/gc.bref.container.sidecar': 'c2',
      'containerd.io/gc.bref.containers': 'not-a-ref',
      'containerd.io/gc.ref.content': 'sha256:b',
    })).toEqual([contentNode('n', 'sha256:a'), snapshotNode('n', 'overlayfs', 'top'), containerNode('n', 'c1'), containerNode('n', 'c2')]);
    expect(isRoot({ 'containerd.io/gc.root': '' })).toBe(true);
    expect(isRoot({ 'containerd.io/gc.ref.content': 'x' })).toBe(false);
  });
});
