import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, NotImplementedError } from '@flotilla/errdefs';
import {
  rejectRemovedSnapshotter,
  rejectSchema1MediaType,
  removedRuntime,
  validateRuntimeName,
} from './removed-features.js';

describe('removed features', () => {
  it('refuses the removed runtimes by name, naming io.containerd.runc.v2', () => {
    for (const name of ['io.containerd.runtime.v1.linux', 'io.containerd.runc.v1']) {
      expect(() => validateRuntimeName(name)).toThrow(NotImplementedError);
      expect(() => validateRuntimeName(name)).toThrow(/use io\.containerd\.runc\.v2/);
      expect(removedRuntime(name)).toBeDefined();
    }
    for (const name of ['io.containerd.runc.v2', 'io.containerd.kata.v2', 'crun']) {
      expect(() => validateRuntimeName(name)).not.toThrow();
    }
  });

  it('refuses aufs with the replacement and lets any other missing snapshotter fall through', () => {
    expect(() => rejectRemovedSnapshotter('aufs')).toThrow(InvalidArgumentError);
    expect(() => rejectRemovedSnapshotter('aufs')).toThrow(/snapshotter not loaded: aufs: .*removed in containerd 2\.0; use overlayfs/);
    expect(rejectRemovedSnapshotter('zfs')).toBeUndefined();
  });

  it('refuses Docker schema 1 manifests, naming schema 2 and OCI', () => {
    for (const mt of ['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws']) {
      expect(() => rejectSchema1MediaType(mt)).toThrow(NotImplementedError);
      expect(() => rejectSchema1MediaType(mt)).toThrow(/manifest\.v2\+json.*application\/vnd\.oci\.image\.manifest\.v1\+json/);
    }
    expect(() => rejectSchema1MediaType('application/vnd.docker.distribution.manifest.v2+json')).not.toThrow();
  });
});
