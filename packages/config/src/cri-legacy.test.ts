import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { migrateLegacyCriRuntime } from './cri-legacy.js';
import { createReport } from './migration-report.js';
import { DeprecationId } from './deprecations.js';
import type { Table } from './table.js';

const RT = 'io.containerd.cri.v1.runtime';
const runtimeSection = (s: Table) => ({ plugins: { [RT]: s } });

describe('migrateLegacyCriRuntime', () => {
  it('turns systemd_cgroup, untrusted_workload_runtime, default_runtime, runtime_engine and runtime_root into runtimes and runc options', () => {
    const doc = runtimeSection({
      systemd_cgroup: true,
      containerd: {
        default_runtime_name: 'runc',
        default_runtime: { runtime_type: 'io.containerd.runc.v2', runtime_root: '/run/k8s' },
        untrusted_workload_runtime: { runtime_type: 'io.containerd.runc.v2', runtime_engine: '/usr/bin/runsc', runtime_root: '' },
        runtimes: {
          runc: { runtime_type: 'io.containerd.runc.v2', runtime_engine: '', options: { SystemdCgroup: false } },
          kata: { runtime_type: 'io.containerd.kata.v2' },
        },
      },
    });
    const r = createReport();
    migrateLegacyCriRuntime(doc, r);
    expect(doc.plugins[RT]).toEqual({
      containerd: {
        default_runtime_name: 'default',
        runtimes: {
          runc: { runtime_type: 'io.containerd.runc.v2', options: { SystemdCgroup: false } },
          kata: { runtime_type: 'io.containerd.kata.v2' },
          untrusted: { runtime_type: 'io.containerd.runc.v2', options: { BinaryName: '/usr/bin/runsc', SystemdCgroup: true } },
          default: { runtime_type: 'io.containerd.runc.v2', options: { Root: '/run/k8s', SystemdCgroup: true } },
        },
      },
    });
    expect(new Set(r.report.deprecations.map((d) => d.id))).toEqual(new Set([
      DeprecationId.CRIUntrustedWorkloadRuntime,
      DeprecationId.CRIDefaultRuntime,
      DeprecationId.CRIRuntimeEngine,
      DeprecationId.CRIRuntimeRoot,
      DeprecationId.CRISystemdCgroupV1,
    ]));
    // runc set SystemdCgroup itself: that wins, and is said.
    expect(r.report.warnings.map((w) => w.key.at(-2))).toEqual(['options']);
  });

  it('drops what containerd 1.x ignored: runtimes without a type, false and empty values', () => {
    const doc = runtimeSection({
      systemd_cgroup: false,
      disable_cgroup: false,
      containerd: {
        no_pivot: false,
        default_runtime: { runtime_type: '', runtime_engine: '', options: {} },
        untrusted_workload_runtime: { runtime_type: '', runtime_engine: '/x' },
        runtimes: { runc: { runtime_type: 'io.containerd.runc.v2', runtime_root: '' } },
      },
    });
    const r = createReport();
    migrateLegacyCriRuntime(doc, r);
    expect(doc.plugins[RT]).toEqual({ containerd: { runtimes: { runc: { runtime_type: 'io.containerd.runc.v2' } } } });
    expect(r.report.deprecations).toEqual([]);
    // The one non-empty value that goes is reported as a warning too.
    expect(r.report.warnings.map((w) => w.key.at(-1))).toEqual(['runtime_engine']);
  });

  it('keeps keys containerd 2.0 removed when they are set, and says nothing reads them', () => {
    const doc = runtimeSection({ disable_cgroup: true, containerd: { no_pivot: true } });
    const r = createReport();
    migrateLegacyCriRuntime(doc, r);
    expect(doc.plugins[RT]).toEqual({ disable_cgroup: true, containerd: { no_pivot: true } });
    expect(r.report.warnings.map((w) => w.kind)).toEqual(['no-effect', 'no-effect']);
  });

  it('refuses conflicting definitions instead of losing one', () => {
    expect(() => migrateLegacyCriRuntime(runtimeSection({
      containerd: {
        untrusted_workload_runtime: { runtime_type: 'io.containerd.runc.v2' },
        runtimes: { untrusted: { runtime_type: 'io.containerd.kata.v2' } },
      },
    }), createReport())).toThrow(InvalidArgumentError);
    expect(() => migrateLegacyCriRuntime(runtimeSection({
      containerd: { runtimes: { runc: { runtime_type: 'io.containerd.runc.v2', runtime_engine: 'crun', options: { BinaryName: 'runc' } } } },
    }), createReport())).toThrow(/conflicting settings/);
  });

  it('reports systemd_cgroup with no runc runtime to take it', () => {
    const doc = runtimeSection({ systemd_cgroup: true, containerd: { runtimes: { kata: { runtime_type: 'io.containerd.kata.v2' } } } });
    const r = createReport();
    migrateLegacyCriRuntime(doc, r);
    expect(r.report.warnings).toHaveLength(1);
    expect(r.report.moves.map((m) => [m.from, m.to])).toEqual([[['plugins', RT, 'systemd_cgroup'], undefined]]);
  });
});
