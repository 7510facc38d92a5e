import { describe, expect, it } from 'vitest';
import { migrateV1PluginNames, v1PluginUri } from './plugin-names.js';
import { createReport } from './migration-report.js';

describe('version 1 plugin names', () => {
  it.each([
    ['cri', 'io.containerd.grpc.v1.cri', false],
    ['linux', 'io.containerd.runtime.v1.linux', false],
    ['bolt', 'io.containerd.metadata.v1.bolt', false],
    ['diff-service', 'io.containerd.service.v1.diff-service', false],
    ['io.containerd.gc.v1.scheduler', 'io.containerd.gc.v1.scheduler', false],
    ['windows', 'io.containerd.snapshotter.v1.windows', true],
    ['custom', 'io.containerd.grpc.v1.custom', true],
  ])('%s is %s', (name, uri, guessed) => expect(v1PluginUri(name)).toEqual({ uri, guessed }));

  it('renames sections and the disabled and required lists, and warns about a guess', () => {
    const doc = {
      plugins: { cri: { a: 1n }, custom: {} },
      disabled_plugins: ['aufs', 'io.containerd.snapshotter.v1.zfs'],
      required_plugins: ['cri'],
    };
    const r = createReport();
    migrateV1PluginNames(doc, r);
    expect(doc).toEqual({
      plugins: { 'io.containerd.grpc.v1.cri': { a: 1n }, 'io.containerd.grpc.v1.custom': {} },
      disabled_plugins: ['io.containerd.snapshotter.v1.aufs', 'io.containerd.snapshotter.v1.zfs'],
      required_plugins: ['io.containerd.grpc.v1.cri'],
    });
    expect(r.report.warnings.map((w) => w.key)).toEqual([['plugins', 'custom']]);
    expect(r.report.moves.map((m) => m.from)).toEqual([['plugins', 'cri'], ['plugins', 'custom'], ['disabled_plugins', '0'], ['required_plugins', '0']]);
  });
});
