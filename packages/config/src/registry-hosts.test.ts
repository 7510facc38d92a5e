import { describe, expect, it } from 'vitest';
import { parse } from 'smol-toml';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { migrateRegistry } from './registry-hosts.js';
import { createReport } from './migration-report.js';
import { DeprecationId } from './deprecations.js';
import type { Table } from './table.js';

const IMG = 'io.containerd.cri.v1.images';
const withRegistry = (registry: Table) => ({ plugins: { [IMG]: { registry } } });

function run(registry: Table) {
  const doc = withRegistry(registry);
  const r = createReport();
  migrateRegistry(doc, r, '/etc/flotilla/certs.d');
  const files = Object.fromEntries(r.report.files.map((f) => [f.path, parse(f.content)]));
  return { registry: doc.plugins[IMG].registry, files, report: r.report };
}

describe('migrateRegistry', () => {
  it('writes a hosts.toml per mirrored registry, with TLS following each endpoint\'s host', () => {
    const { registry, files, report } = run({
      mirrors: {
        'docker.io': { endpoint: ['https://mirror.gcr.io', 'mirror.local:5000/v2/proxy', 'localhost:5001'] },
        '*': { endpoint: ['https://catch-all.example.com'] },
      },
      configs: {
        'mirror.local:5000': { tls: { ca_file: '/ca.pem', cert_file: '/c.pem', key_file: '/c.key' } },
        'private.example.com': { tls: { insecure_skip_verify: true }, auth: { username: 'u', password: 'p' } },
      },
      auths: { 'https://gcr.io': { username: '_json_key', password: '{}' } },
    });
    expect(files).toEqual({
      '/etc/flotilla/certs.d/docker.io/hosts.toml': {
        server: 'https://registry-1.docker.io',
        host: {
          'https://mirror.gcr.io': { capabilities: ['pull', 'resolve'] },
          'https://mirror.local:5000/v2/proxy': {
            capabilities: ['pull', 'resolve'], override_path: true, ca: '/ca.pem', client: [['/c.pem', '/c.key']],
          },
          'http://localhost:5001': { capabilities: ['pull', 'resolve'] },
        },
      },
      '/etc/flotilla/certs.d/_default/hosts.toml': {
        host: { 'https://catch-all.example.com': { capabilities: ['pull', 'resolve'] } },
      },
      '/etc/flotilla/certs.d/mirror.local:5000/hosts.toml': {
        server: 'https://mirror.local:5000', ca: '/ca.pem', client: [['/c.pem', '/c.key']],
        host: { 'https://catch-all.example.com': { capabilities: ['pull', 'resolve'] } },
      },
      '/etc/flotilla/certs.d/private.example.com/hosts.toml': {
        server: 'https://private.example.com', skip_verify: true,
        host: { 'https://catch-all.example.com': { capabilities: ['pull', 'resolve'] } },
      },
    });
    // Credentials stay where containerd 2.0 still reads them.
    expect(registry).toEqual({
      config_path: '/etc/flotilla/certs.d',
      configs: { 'private.example.com': { auth: { username: 'u', password: 'p' } } },
      auths: { 'https://gcr.io': { username: '_json_key', password: '{}' } },
    });
    expect(new Set(report.deprecations.map((d) => d.id))).toEqual(new Set([
      DeprecationId.CRIRegistryMirrors, DeprecationId.CRIRegistryConfigs, DeprecationId.CRIRegistryAuths,
    ]));
  });

  it('drops empty tables and writes nothing when there is nothing to write', () => {
    const { registry, files, report } = run({ config_path: '', mirrors: {}, configs: {}, auths: {}, headers: {} });
    expect(registry).toEqual({ config_path: '', headers: {} });
    expect(files).toEqual({});
    expect(report.deprecations).toEqual([]);
  });

  it('refuses mirrors beside a config_path, as containerd does, and leaves TLS there ignored, as 1.x did', () => {
    expect(() => run({ config_path: '/etc/containerd/certs.d', mirrors: { 'docker.io': { endpoint: ['https://m'] } } })).toThrow(InvalidArgumentError);
    const { registry, files, report } = run({ config_path: '/etc/containerd/certs.d', configs: { h: { tls: { ca_file: '/ca' } } } });
    expect(files).toEqual({});
    expect(registry).toEqual({ config_path: '/etc/containerd/certs.d', configs: { h: { tls: { ca_file: '/ca' } } } });
    expect(report.warnings.map((w) => w.kind)).toEqual(['no-effect']);
  });
});
