import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata } from 'nice-grpc';
import * as grpc from '@grpc/grpc-js';
import { Images } from '@flotilla/proto/containerd/services/images/v1/images_pb';
import { Introspection } from '@flotilla/proto/containerd/services/introspection/v1/introspection_pb';
import { NotImplementedError } from '@flotilla/errdefs';
import { clientOf } from '@flotilla/rpc/client';
import { DeprecationId, getPath, isZero, leaves, parseConfig, parseToml, validateRuntimeName, type Table } from '@flotilla/config';
import { startFlotilla, flotillaBin, type Flotilla } from './support/flotilla.js';
import { run } from './support/exec.js';

// Configuration as operators bring it: containerd's own version 2 default, a hand-written version 1 file,
// and the features containerd 2.0 removed, each refused with the error that names its replacement.

const dir = mkdtempSync(join(tmpdir(), 'config-migration-'));
afterAll(() => { if (process.env['FLOTILLA_TEST_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true }); });

const toml = (text: string) => parseToml(text, 'test');
/** `plugins."io.containerd.grpc.v1.cri".containerd` as a path. */
const key = (s: string) => (s.match(/"[^"]*"|[^.]+/g) ?? []).map((p) => p.replace(/^"|"$/g, ''));
const startsWith = (a: readonly string[], p: readonly string[]) => p.length <= a.length && p.every((x, i) => a[i] === x);

const CRI = 'plugins."io.containerd.grpc.v1.cri"';
const IMG = 'plugins."io.containerd.cri.v1.images"';
const RT = 'plugins."io.containerd.cri.v1.runtime"';

/** Dropped by migration where it had arrived (the version 3 path), with nothing in it to lose. */
interface Dropped { dropped: string }
const dropped = (at: string): Dropped => ({ dropped: at });
/** Kept in place with a new value: only the version itself. */
interface Changed { changed: string; value: unknown }
const kept = (k: string): [string, string] => [k, k];

/**
 * Every key of containerd 1.6.20's `config default` and where it goes. A row names a key or a table; a
 * table row covers every key under it that no longer row names.
 */
const table: [string, string | Dropped | Changed][] = [
  // Top level: unchanged.
  ['version', { changed: 'version', value: 3n }],
  ...['root', 'state', 'temp', 'plugin_dir', 'disabled_plugins', 'required_plugins', 'imports', 'oom_score',
    'cgroup', 'debug', 'grpc', 'metrics', 'ttrpc', 'proxy_plugins', 'stream_processors', 'timeouts'].map(kept),
  // Plugin sections other than CRI: unchanged (Flotilla reads gc, bolt and overlayfs; keeps the others).
  ...['io.containerd.gc.v1.scheduler', 'io.containerd.internal.v1.opt', 'io.containerd.internal.v1.restart',
    'io.containerd.metadata.v1.bolt', 'io.containerd.monitor.v1.cgroups', 'io.containerd.runtime.v1.linux',
    'io.containerd.runtime.v2.task', 'io.containerd.service.v1.diff-service', 'io.containerd.service.v1.tasks-service',
    'io.containerd.snapshotter.v1.aufs', 'io.containerd.snapshotter.v1.btrfs', 'io.containerd.snapshotter.v1.devmapper',
    'io.containerd.snapshotter.v1.native', 'io.containerd.snapshotter.v1.overlayfs', 'io.containerd.snapshotter.v1.zfs',
  ].map((p) => kept(`plugins."${p}"`)),
  // The CRI section, key by key.
  [`${CRI}.device_ownership_from_security_context`, `${RT}.device_ownership_from_security_context`],
  [`${CRI}.disable_apparmor`, `${RT}.disable_apparmor`],
  [`${CRI}.disable_cgroup`, dropped(`${RT}.disable_cgroup`)],
  [`${CRI}.disable_hugetlb_controller`, `${RT}.disable_hugetlb_controller`],
  [`${CRI}.disable_proc_mount`, `${RT}.disable_proc_mount`],
  [`${CRI}.disable_tcp_service`, `${CRI}.disable_tcp_service`],
  [`${CRI}.enable_selinux`, `${RT}.enable_selinux`],
  [`${CRI}.enable_tls_streaming`, `${CRI}.enable_tls_streaming`],
  [`${CRI}.enable_unprivileged_icmp`, `${RT}.enable_unprivileged_icmp`],
  [`${CRI}.enable_unprivileged_ports`, `${RT}.enable_unprivileged_ports`],
  [`${CRI}.ignore_image_defined_volumes`, `${RT}.ignore_image_defined_volumes`],
  [`${CRI}.max_concurrent_downloads`, `${IMG}.max_concurrent_downloads`],
  [`${CRI}.max_container_log_line_size`, `${RT}.max_container_log_line_size`],
  [`${CRI}.netns_mounts_under_state_dir`, `${RT}.netns_mounts_under_state_dir`],
  [`${CRI}.restrict_oom_score_adj`, `${RT}.restrict_oom_score_adj`],
  [`${CRI}.sandbox_image`, `${IMG}.pinned_images.sandbox`],
  [`${CRI}.selinux_category_range`, `${RT}.selinux_category_range`],
  [`${CRI}.stats_collect_period`, `${IMG}.stats_collect_period`],
  [`${CRI}.stream_idle_timeout`, `${CRI}.stream_idle_timeout`],
  [`${CRI}.stream_server_address`, `${CRI}.stream_server_address`],
  [`${CRI}.stream_server_port`, `${CRI}.stream_server_port`],
  [`${CRI}.systemd_cgroup`, dropped(`${RT}.systemd_cgroup`)],
  [`${CRI}.tolerate_missing_hugetlb_controller`, `${RT}.tolerate_missing_hugetlb_controller`],
  [`${CRI}.unset_seccomp_profile`, `${RT}.unset_seccomp_profile`],
  [`${CRI}.cni.bin_dir`, `${RT}.cni.bin_dir`],
  [`${CRI}.cni.conf_dir`, `${RT}.cni.conf_dir`],
  [`${CRI}.cni.conf_template`, `${RT}.cni.conf_template`],
  [`${CRI}.cni.ip_pref`, `${RT}.cni.ip_pref`],
  [`${CRI}.cni.max_conf_num`, `${RT}.cni.max_conf_num`],
  [`${CRI}.containerd.default_runtime_name`, `${RT}.containerd.default_runtime_name`],
  [`${CRI}.containerd.disable_snapshot_annotations`, `${IMG}.disable_snapshot_annotations`],
  [`${CRI}.containerd.discard_unpacked_layers`, `${IMG}.discard_unpacked_layers`],
  [`${CRI}.containerd.ignore_rdt_not_enabled_errors`, `${RT}.containerd.ignore_rdt_not_enabled_errors`],
  [`${CRI}.containerd.no_pivot`, dropped(`${RT}.containerd.no_pivot`)],
  [`${CRI}.containerd.snapshotter`, `${IMG}.snapshotter`],
  [`${CRI}.containerd.default_runtime`, dropped(`${RT}.containerd.default_runtime`)],
  [`${CRI}.containerd.untrusted_workload_runtime`, dropped(`${RT}.containerd.untrusted_workload_runtime`)],
  ...['base_runtime_spec', 'cni_conf_dir', 'cni_max_conf_num', 'container_annotations', 'pod_annotations',
    'privileged_without_host_devices', 'runtime_path', 'runtime_type',
    ...['BinaryName', 'CriuImagePath', 'CriuPath', 'CriuWorkPath', 'IoGid', 'IoUid', 'NoNewKeyring', 'NoPivotRoot', 'Root',
      'ShimCgroup', 'SystemdCgroup'].map((o) => `options.${o}`),
  ].map((k): [string, string] => [`${CRI}.containerd.runtimes.runc.${k}`, `${RT}.containerd.runtimes.runc.${k}`]),
  [`${CRI}.containerd.runtimes.runc.runtime_engine`, dropped(`${RT}.containerd.runtimes.runc.runtime_engine`)],
  [`${CRI}.containerd.runtimes.runc.runtime_root`, dropped(`${RT}.containerd.runtimes.runc.runtime_root`)],
  [`${CRI}.image_decryption.key_model`, `${IMG}.image_decryption.key_model`],
  [`${CRI}.registry.config_path`, `${IMG}.registry.config_path`],
  [`${CRI}.registry.headers`, `${IMG}.registry.headers`],
  [`${CRI}.registry.auths`, dropped(`${IMG}.registry.auths`)],
  [`${CRI}.registry.configs`, dropped(`${IMG}.registry.configs`)],
  [`${CRI}.registry.mirrors`, dropped(`${IMG}.registry.mirrors`)],
  [`${CRI}.x509_key_pair_streaming.tls_cert_file`, `${CRI}.x509_key_pair_streaming.tls_cert_file`],
  [`${CRI}.x509_key_pair_streaming.tls_key_file`, `${CRI}.x509_key_pair_streaming.tls_key_file`],
];

describe('containerd 1.6.20\'s `config default` (version 2)', () => {
  let source: Table;
  let migrated: Table;
  let migrateReport: string;
  const file = join(dir, 'containerd-1.6.20.toml');

  beforeAll(async () => {
    const gen = await run('containerd', ['config', 'default']);
    expect(gen.code).toBe(0);
    writeFileSync(file, gen.stdout);
    source = toml(gen.stdout);
    const m = await run(flotillaBin, ['config', 'migrate', '--config', file, '--hosts-dir', join(dir, 'v2-certs.d')]);
    expect(m.stderr).not.toMatch(/^flotilla:/m);
    expect(m.code).toBe(0);
    migrated = toml(m.stdout);
    migrateReport = m.stderr;
    writeFileSync(join(dir, 'containerd-1.6.20-v3.toml'), m.stdout);
  });

  it('is the real thing: a version 2 file from containerd 1.6.20', async () => {
    expect((await run('containerd', ['--version'])).stdout).toMatch(/ 1\.6\.20/);
    expect(source['version']).toBe(2n);
    expect(migrated['version']).toBe(3n);
  });

  it('migrates keeping every value, each key where the table says', () => {
    const rows = table.map(([from, to]) => [key(from), typeof to === 'string' ? key(to) : to] as const);
    expect(rows.filter(([, to]) => !Array.isArray(to) && 'changed' in to)).toHaveLength(1);
    const { report } = parseConfig(readFileSync(file, 'utf8'), file, { hostsDir: join(dir, 'v2-certs.d') });
    for (const [path, value] of leaves(source)) {
      // The most specific row for this key.
      const row = rows.filter(([from]) => startsWith(path, from)).sort((a, b) => b[0].length - a[0].length)[0];
      expect(row, `a row for ${path.join('.')}`).toBeDefined();
      const [from, to] = row!;
      if (Array.isArray(to)) {
        const target = [...(to as string[]), ...path.slice(from.length)];
        expect(getPath(migrated, target), `${path.join('.')} -> ${target.join('.')}`).toEqual(value);
      } else if ('changed' in to) {
        expect(getPath(migrated, key(to.changed))).toEqual(to.value);
      } else {
        // Dropped only when it said nothing, and the migration says where and why.
        const at = key(to.dropped);
        expect(isZero(value), `${path.join('.')} is empty`).toBe(true);
        expect(report.moves.some((m) => m.to === undefined && startsWith(at, m.from)), `a drop of ${at.join('.')}`).toBe(true);
        expect(getPath(migrated, at)).toBeUndefined();
      }
    }
    // And nothing in the migrated file came from nowhere: every key in it is a row's destination, or the
    // keys the split creates.
    const destinations = rows.flatMap(([, to]) => (Array.isArray(to) ? [to as string[]] : 'changed' in to ? [key(to.changed)] : []));
    for (const [path] of leaves(migrated)) {
      expect(destinations.some((d) => startsWith(path, d)), `${path.join('.')} has a source`).toBe(true);
    }
  });

  it('loads: the migrated file is version 3 with nothing left to migrate, and the daemon would run on it', async () => {
    const loaded = parseConfig(readFileSync(join(dir, 'containerd-1.6.20-v3.toml'), 'utf8'), 'v3.toml');
    expect(loaded.sourceVersion).toBe(3);
    expect(loaded.report.moves).toEqual([]);
    expect(loaded.report.deprecations).toEqual([]);
    expect(loaded.report.warnings.filter((w) => w.kind === 'unknown-key')).toEqual([]);
    expect(loaded.config).toMatchObject({ root: '/var/lib/containerd', state: '/run/containerd', grpc: { address: '/run/containerd/containerd.sock' } });
    expect(loaded.config.plugins['io.containerd.gc.v1.scheduler']).toMatchObject({ schedule_delay: '0s', mutation_threshold: 100 });
    // The unread sections are named, once each, in what migrate printed.
    expect(migrateReport).toMatch(/plugins\."io\.containerd\.snapshotter\.v1\.aufs".*removed in containerd 2\.0 \(use overlayfs\)/);
    expect(migrateReport).toMatch(/plugins\."io\.containerd\.cri\.v1\.runtime".*no CRI plugin yet/);
    const dump = await run(flotillaBin, ['config', 'dump', '--config', file]);
    expect(dump.code).toBe(0);
    expect(toml(dump.stdout)['plugins']).toMatchObject({ 'io.flotilla.process.v1': { initial_backoff: '100ms' }, 'io.containerd.metadata.v1.bolt': { content_sharing_policy: 'shared' } });
  });
});

/** A containerd 1.2-era file: no version, short plugin names, and every legacy property the issue lists. */
const v1Config = `# containerd 1.2-era configuration
root = "/var/lib/containerd"
state = "/run/containerd"

[plugins.cri]
  sandbox_image = "k8s.gcr.io/pause:3.1"
  systemd_cgroup = true
  [plugins.cri.containerd]
    snapshotter = "overlayfs"
    [plugins.cri.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins.cri.containerd.untrusted_workload_runtime]
      runtime_type = "io.containerd.runc.v2"
      runtime_engine = "/usr/local/bin/runsc"
      runtime_root = "/run/runsc"
  [plugins.cri.registry]
    [plugins.cri.registry.mirrors."docker.io"]
      endpoint = ["https://mirror.gcr.io", "https://mirror.internal:5000"]
    [plugins.cri.registry.mirrors."quay.io"]
      endpoint = ["mirror.internal:5000/quay"]
    [plugins.cri.registry.configs."mirror.internal:5000".tls]
      ca_file = "/etc/containerd/certs/internal-ca.pem"
      cert_file = "/etc/containerd/certs/node.pem"
      key_file = "/etc/containerd/certs/node.key"
    [plugins.cri.registry.configs."registry.internal".tls]
      insecure_skip_verify = true
    [plugins.cri.registry.auths."https://registry.internal"]
      username = "robot"
      password = "hunter2"

[plugins.scheduler]
  schedule_delay = "50ms"
`;

const expectedV3 = (hostsDir: string) => `
version = 3
root = "/var/lib/containerd"
state = "/run/containerd"

[plugins."io.containerd.gc.v1.scheduler"]
  schedule_delay = "50ms"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "k8s.gcr.io/pause:3.1"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "${hostsDir}"
    [plugins."io.containerd.cri.v1.images".registry.auths."https://registry.internal"]
      username = "robot"
      password = "hunter2"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
    SystemdCgroup = true
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.untrusted]
  runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.untrusted.options]
    BinaryName = "/usr/local/bin/runsc"
    Root = "/run/runsc"
    SystemdCgroup = true
`;

const mirrorTls = { ca: '/etc/containerd/certs/internal-ca.pem', client: [['/etc/containerd/certs/node.pem', '/etc/containerd/certs/node.key']] };
const expectedHosts: Record<string, Table> = {
  'docker.io': {
    server: 'https://registry-1.docker.io',
    host: {
      'https://mirror.gcr.io': { capabilities: ['pull', 'resolve'] },
      'https://mirror.internal:5000': { capabilities: ['pull', 'resolve'], ...mirrorTls },
    },
  },
  'quay.io': {
    server: 'https://quay.io',
    host: { 'https://mirror.internal:5000/quay': { capabilities: ['pull', 'resolve'], override_path: true, ...mirrorTls } },
  },
  'mirror.internal:5000': { server: 'https://mirror.internal:5000', ...mirrorTls },
  'registry.internal': { server: 'https://registry.internal', skip_verify: true },
};

function hostsFiles(root: string): Record<string, Table> {
  return Object.fromEntries(readdirSync(root).map((h) => [h, toml(readFileSync(join(root, h, 'hosts.toml'), 'utf8'))]));
}

describe('a hand-written version 1 config', () => {
  it('migrates to the expected version 3 file and hosts.toml files', async () => {
    const file = join(dir, 'v1.toml');
    const hostsDir = join(dir, 'v1-certs.d');
    writeFileSync(file, v1Config);
    const m = await run(flotillaBin, ['config', 'migrate', '--config', file, '--hosts-dir', hostsDir]);
    expect(m.code).toBe(0);
    expect(toml(m.stdout)).toEqual(toml(expectedV3(hostsDir)));
    expect(hostsFiles(hostsDir)).toEqual(expectedHosts);
    // What moved where, on stderr.
    expect(m.stderr).toMatch(/^moved plugins\."io\.containerd\.cri\.v1\.runtime"\.containerd\.runtimes\.untrusted\.runtime_engine -> .*options\.BinaryName$/m);
    expect(m.stderr).toMatch(/^deprecated: .*v1\.toml:\d+:\d+: .*\(written as plugins\.cri\.systemd_cgroup\): io\.containerd\.deprecation\/cri-systemd-cgroup-v1/m);
    // Migrating again is refused rather than overwriting hosts files that now differ.
    writeFileSync(join(hostsDir, 'quay.io', 'hosts.toml'), '# mine\n');
    const again = await run(flotillaBin, ['config', 'migrate', '--config', file, '--hosts-dir', hostsDir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/quay\.io\/hosts\.toml.*--hosts-dir/);
  });

  describe('flotilla daemon with it', () => {
    let f: Flotilla;
    beforeAll(async () => {
      f = await startFlotilla({ config: v1Config });
    });
    afterAll(async () => {
      await f?.stop();
    });

    it('starts, with the migration written to its state directory and logged', () => {
      expect(hostsFiles(join(f.state, 'certs.d'))).toEqual(expectedHosts);
      const log = f.log();
      expect(log).toMatch(/configuration migrated to version 3 in memory/);
      expect(log).toMatch(/"id":"io\.containerd\.deprecation\/cri-untrusted-workload-runtime"/);
      expect(log).toMatch(/"plugin":"io\.containerd\.cri\.v1\.runtime".*no CRI plugin yet/);
    });

    it('lists the migration\'s deprecations in introspection\'s Server call (ctr 1.6 has no `deprecations list`)', async () => {
      const res = await clientOf(Introspection, f.channel).server({});
      const ids = res.deprecations.map((d) => d.id).sort();
      expect(ids).toEqual([
        DeprecationId.CRIRegistryAuths,
        DeprecationId.CRIRegistryConfigs,
        DeprecationId.CRIRegistryMirrors,
        DeprecationId.CRIRuntimeEngine,
        DeprecationId.CRIRuntimeRoot,
        DeprecationId.CRISystemdCgroupV1,
        DeprecationId.CRIUntrustedWorkloadRuntime,
        DeprecationId.ConfigVersion,
      ].sort());
      for (const d of res.deprecations) {
        expect(d.message).not.toBe('');
        expect(Number(d.lastOccurrence?.seconds)).toBeGreaterThan(0);
      }
    });

    it('refuses the aufs snapshotter through the real ctr, naming overlayfs', async () => {
      const r = await f.ctr(['snapshots', '--snapshotter', 'aufs', 'ls']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/snapshotter not loaded: aufs: the aufs snapshotter was removed in containerd 2\.0; use overlayfs/);
      expect((await f.ctr(['snapshots', '--snapshotter', 'overlayfs', 'ls'])).code).toBe(0);
    });

    it('refuses an image created with a Docker schema 1 manifest, and ctr images ls still works', async () => {
      const images = clientOf(Images, f.channel);
      const md = { metadata: Metadata({ 'containerd-namespace': 'schema1' }) };
      const digest = `sha256:${'a'.repeat(64)}`;
      for (const mediaType of ['application/vnd.docker.distribution.manifest.v1+prettyjws', 'application/vnd.docker.distribution.manifest.v1+json']) {
        const err = await images.create({ image: { name: 'docker.io/library/old:1', target: { mediaType, digest, size: 100n } } }, md).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NotImplementedError);
        expect((err as Error).message).toMatch(/schema 1.*"application\/vnd\.docker\.distribution\.manifest\.v2\+json".*"application\/vnd\.oci\.image\.manifest\.v1\+json"/);
      }
      await images.create({ image: { name: 'docker.io/library/new:1', target: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: 100n } } }, md);
      const ls = await f.ctr(['images', 'ls', '-q'], { namespace: 'schema1' });
      expect(ls.code).toBe(0);
      expect(ls.stdout).toBe('docker.io/library/new:1\n');
    });

    it('refuses a container on a removed runtime through the real ctr, naming io.containerd.runc.v2', async () => {
      // `--rootfs` spares the pull: ctr creates the container record all the same (test/containers.test.ts
      // does it with a pulled image).
      const rootfs = join(dir, 'rootfs');
      mkdirSync(rootfs, { recursive: true });
      for (const args of [
        ['containers', 'create', '--runtime', 'io.containerd.runtime.v1.linux', '--rootfs', rootfs, 'legacy-v1'],
        ['run', '--runtime', 'io.containerd.runc.v1', '--rootfs', rootfs, 'legacy-runc-v1', 'true'],
      ]) {
        const r = await f.ctr(args);
        expect(r.code, args.join(' ')).not.toBe(0);
        expect(r.stderr).toMatch(/^ctr: create container failed validation: runtime "io\.containerd\.(runtime\.v1\.linux|runc\.v1)" is not supported: .*removed in containerd 2\.0; use io\.containerd\.runc\.v2: not implemented$/m);
      }
      expect((await f.ctr(['containers', 'ls', '-q'])).stdout).toBe('');
      expect((await f.ctr(['containers', 'create', '--runtime', 'io.containerd.runc.v2', '--rootfs', rootfs, 'current'])).code).toBe(0);
      expect((await f.ctr(['containers', 'rm', 'current'])).code).toBe(0);
    });

    it('answers any CRI v1alpha2 call Unimplemented, naming runtime.v1', async () => {
      const client = new grpc.Client(`unix://${f.address}`, grpc.credentials.createInsecure());
      try {
        for (const method of ['/runtime.v1alpha2.RuntimeService/Version', '/runtime.v1alpha2.ImageService/ListImages']) {
          const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
            client.makeUnaryRequest(method, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (e) => (e ? resolve(e) : reject(new Error('answered'))));
          });
          expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
          expect(err.details).toMatch(/v1alpha2 was removed in containerd 2\.0: use CRI API v1 \(runtime\.v1\.RuntimeService/);
        }
      } finally {
        client.close();
      }
    });
  });
});

describe('removed runtimes and broken files stop the daemon with a clear error', () => {
  const daemon = async (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    const d = join(dir, `${name}.d`);
    return run(flotillaBin, ['daemon', '--config', file, '--root', join(d, 'root'), '--state', join(d, 'state'), '--address', join(d, 'f.sock')], { timeoutMs: 30_000 });
  };

  it.each(['io.containerd.runtime.v1.linux', 'io.containerd.runc.v1'])('%s in the config', async (runtime) => {
    const r = await daemon(`runtime-${runtime}.toml`, `version = 2
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "legacy"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.legacy]
    runtime_type = "${runtime}"
`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`runtimes\\.legacy\\.runtime_type = "${runtime.replace(/\./g, '\\.')}" \\(the default runtime\\): .*removed in containerd 2\\.0; set runtime_type = "io\\.containerd\\.runc\\.v2"`));
  });

  it('the validator the containers service calls at create', () => {
    expect(() => validateRuntimeName('io.containerd.runtime.v1.linux')).toThrow(NotImplementedError);
    expect(() => validateRuntimeName('io.containerd.runc.v1')).toThrow(/use io\.containerd\.runc\.v2/);
    expect(() => validateRuntimeName('io.containerd.runc.v2')).not.toThrow();
  });

  it('aufs as the CRI snapshotter', async () => {
    const r = await daemon('aufs.toml', 'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  snapshotter = "aufs"\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/snapshotter = "aufs": the aufs snapshotter was removed in containerd 2\.0; use overlayfs/);
  });

  it('a malformed file, with its line and column', async () => {
    const r = await daemon('malformed.toml', 'version = 3\n[grpc]\n  address = "/x.sock\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/malformed\.toml:3:\d+: /);
  });
});
