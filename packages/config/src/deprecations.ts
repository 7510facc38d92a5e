/**
 * Deprecation warnings as containerd names them (`io.containerd.deprecation/<name>`), so that tooling that
 * filters or ignores them by ID (`ctr deprecations list`, CRI's ignore_deprecation_warnings) works the
 * same against Flotilla. Flotilla's own warnings, for things containerd has no ID for, use its own prefix.
 */
export const DeprecationId = {
  CRISystemdCgroupV1: 'io.containerd.deprecation/cri-systemd-cgroup-v1',
  CRIUntrustedWorkloadRuntime: 'io.containerd.deprecation/cri-untrusted-workload-runtime',
  CRIDefaultRuntime: 'io.containerd.deprecation/cri-default-runtime',
  CRIRuntimeEngine: 'io.containerd.deprecation/cri-runtime-engine',
  CRIRuntimeRoot: 'io.containerd.deprecation/cri-runtime-root',
  CRIRegistryMirrors: 'io.containerd.deprecation/cri-registry-mirrors',
  CRIRegistryConfigs: 'io.containerd.deprecation/cri-registry-configs',
  CRIRegistryAuths: 'io.containerd.deprecation/cri-registry-auths',
  CRICRIUPath: 'io.containerd.deprecation/cri-criu-path',
  RestartLogpath: 'io.containerd.deprecation/restart-logpath',
  /** Flotilla's: the config file is an older version and was migrated in memory. */
  ConfigVersion: 'io.flotilla.deprecation/config-version',
} as const;

export type DeprecationId = (typeof DeprecationId)[keyof typeof DeprecationId];

/** What each warning tells the operator: what is deprecated and what to write instead. */
export const deprecationMessages: Readonly<Record<DeprecationId, string>> = {
  [DeprecationId.CRISystemdCgroupV1]:
    'The CRI `systemd_cgroup` property was removed in containerd 2.0; it now sets the runc option `SystemdCgroup` '
    + '(`[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.<name>.options]`). Set that option instead.',
  [DeprecationId.CRIUntrustedWorkloadRuntime]:
    'The CRI `untrusted_workload_runtime` property was removed in containerd 2.0; it now defines the runtime named '
    + '`untrusted` under `containerd.runtimes`. Define that runtime instead.',
  [DeprecationId.CRIDefaultRuntime]:
    'The CRI `default_runtime` property was removed in containerd 2.0; it now defines the runtime named `default` '
    + 'under `containerd.runtimes` and selects it with `default_runtime_name`. Write those instead.',
  [DeprecationId.CRIRuntimeEngine]:
    'The CRI runtime property `runtime_engine` was removed in containerd 2.0; it now sets the runc option `BinaryName`. '
    + 'Use an io.containerd.runc.v2 runtime with `options.BinaryName` instead.',
  [DeprecationId.CRIRuntimeRoot]:
    'The CRI runtime property `runtime_root` was removed in containerd 2.0; it now sets the runc option `Root`. '
    + 'Use an io.containerd.runc.v2 runtime with `options.Root` instead.',
  [DeprecationId.CRIRegistryMirrors]:
    'The CRI `registry.mirrors` property is deprecated; the mirrors were written as hosts.toml files and `config_path` '
    + 'points at them. Keep registry hosts in a `config_path` directory instead.',
  [DeprecationId.CRIRegistryConfigs]:
    'The CRI `registry.configs` property is deprecated; TLS settings were written as hosts.toml files under '
    + '`config_path`, credentials are kept. Keep registry hosts in a `config_path` directory instead.',
  [DeprecationId.CRIRegistryAuths]:
    'The CRI `registry.auths` property is deprecated and kept as it is; pass credentials with each pull instead '
    + '(Kubernetes image pull secrets).',
  [DeprecationId.CRICRIUPath]:
    'The runc option `CriuPath` is deprecated; put a criu binary on the PATH instead.',
  [DeprecationId.RestartLogpath]:
    'The `containerd.io/restart.logpath` label was removed in containerd 2.0; it is read as a file URI in '
    + '`containerd.io/restart.loguri`. Set that label instead.',
  [DeprecationId.ConfigVersion]:
    'The configuration file is an older version and was migrated to version 3 in memory at start; write the '
    + 'output of `flotilla config migrate` in its place.',
};

/** One warning as introspection's Server call reports it (the same shape as @flotilla/plugin's Deprecation). */
export interface DeprecationEntry {
  readonly id: DeprecationId;
  readonly message: string;
  readonly lastOccurrence: Date;
}

/**
 * The running daemon's deprecation warnings: one entry per ID with the time it last happened, as
 * containerd's warning service keeps them. Configuration migration seeds it at start; code that meets a
 * deprecated use later (a restart.logpath label, say) emits into the same log.
 */
export interface DeprecationLog {
  emit(id: DeprecationId, at?: Date): void;
  list(): DeprecationEntry[];
}

export function createDeprecationLog(): DeprecationLog {
  const seen = new Map<DeprecationId, Date>();
  return {
    emit(id, at = new Date()) {
      seen.set(id, at);
    },
    list() {
      return [...seen].map(([id, lastOccurrence]) => ({ id, message: deprecationMessages[id], lastOccurrence }));
    },
  };
}
