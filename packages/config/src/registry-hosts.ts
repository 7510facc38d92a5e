import { isIP } from 'node:net';
import { join } from 'node:path';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { formatKey, isTable, isZero, type Table } from './table.js';
import { formatToml } from './toml-writer.js';
import { CRI_IMAGES } from './cri-sections.js';
import { DeprecationId } from './deprecations.js';
import type { ReportWriter } from './migration-report.js';

/** containerd 1.x reached localhost registries over plain HTTP unless told otherwise. */
function isLocalhost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  if (name === 'localhost') return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  return name === '::1';
}

/** An endpoint as containerd 1.x completed it: a bare `host[:port][/path]` gets its default scheme. */
function endpointUrl(endpoint: string): URL {
  const withScheme = endpoint.includes('://') ? endpoint : `${isLocalhost(endpoint.split('/')[0]!) ? 'http' : 'https'}://${endpoint}`;
  try {
    return new URL(withScheme);
  } catch {
    throw new InvalidArgumentError(`registry mirror endpoint ${JSON.stringify(endpoint)} is not a URL`);
  }
}

/** The registry's own server, where containerd 1.x fell back after the mirrors (Docker Hub's API host for docker.io). */
function defaultServer(host: string): string {
  const server = host === 'docker.io' ? 'registry-1.docker.io' : host;
  return `${isLocalhost(server) ? 'http' : 'https'}://${server}`;
}

/** `registry.configs.<host>.tls` as hosts.toml writes it. */
function hostsTls(tls: Table, key: readonly string[], r: ReportWriter): Table {
  const out: Table = {};
  const str = (k: string) => (typeof tls[k] === 'string' && tls[k] !== '' ? (tls[k] as string) : undefined);
  const ca = str('ca_file');
  const cert = str('cert_file');
  const keyFile = str('key_file');
  if (ca !== undefined) out['ca'] = ca;
  if (cert !== undefined) out['client'] = keyFile !== undefined ? [[cert, keyFile]] : cert;
  if (tls['insecure_skip_verify'] === true) out['skip_verify'] = true;
  for (const k of Object.keys(tls)) {
    if (!['ca_file', 'cert_file', 'key_file', 'insecure_skip_verify'].includes(k)) {
      r.warn({ kind: 'unknown-key', key: [...key, k], message: 'not a registry TLS setting containerd knew; not carried to hosts.toml' });
    }
  }
  return out;
}

/**
 * `registry.mirrors` and the TLS part of `registry.configs` become a `config_path` directory of hosts.toml
 * files, one per registry, which reproduce what containerd 1.x did with them: a registry's mirror endpoints
 * are tried in order for pulls and resolves, then the registry itself; TLS settings follow the endpoint's
 * host wherever it is used; the `*` mirror serves every registry without its own directory (`_default`).
 * An endpoint with a path keeps that exact path (`override_path`), as 1.x used it.
 *
 * Credentials stay where they were (`registry.configs.<host>.auth`, `registry.auths`): containerd 2.0
 * still reads them, deprecated, and hosts.toml has no place for them.
 */
export function migrateRegistry(doc: Table, r: ReportWriter, hostsDir: string): void {
  const images = isTable(doc['plugins']) ? doc['plugins'][CRI_IMAGES] : undefined;
  const registry = isTable(images) ? images['registry'] : undefined;
  if (!isTable(registry)) return;
  const at = (...k: string[]) => ['plugins', CRI_IMAGES, 'registry', ...k];
  const configPath = typeof registry['config_path'] === 'string' ? registry['config_path'] : '';

  if (registry['auths'] !== undefined) {
    if (isZero(registry['auths'])) {
      delete registry['auths'];
      r.drop(at('auths'), 'empty');
    } else r.deprecate(DeprecationId.CRIRegistryAuths, at('auths'));
  }

  const tlsByHost = new Map<string, Table>();
  const configs = registry['configs'];
  if (configs !== undefined) {
    if (isTable(configs)) {
      for (const [host, c] of Object.entries(configs)) {
        if (!isTable(c)) continue;
        if (c['tls'] !== undefined) {
          if (isZero(c['tls'])) {
            delete c['tls'];
            r.drop(at('configs', host, 'tls'), 'empty');
          } else if (!isTable(c['tls'])) {
            throw new InvalidArgumentError(`${formatKey(at('configs', host, 'tls'))}: expected a table`);
          } else if (configPath !== '') {
            r.warn({
              kind: 'no-effect',
              key: at('configs', host, 'tls'),
              message: `ignored because config_path is set, as containerd 1.x ignored it; put it in ${configPath}/${host}/hosts.toml`,
            });
          } else {
            tlsByHost.set(host, c['tls']);
          }
        }
        if (c['auth'] !== undefined) {
          if (isZero(c['auth'])) {
            delete c['auth'];
            r.drop(at('configs', host, 'auth'), 'empty');
          } else r.deprecate(DeprecationId.CRIRegistryConfigs, at('configs', host, 'auth'));
        }
      }
    }
    if (isZero(configs)) {
      delete registry['configs'];
      if (tlsByHost.size === 0) r.drop(at('configs'), 'empty');
    }
  }

  let mirrors = isTable(registry['mirrors']) ? registry['mirrors'] : undefined;
  if (mirrors !== undefined && Object.keys(mirrors).length === 0) {
    delete registry['mirrors'];
    r.drop(at('mirrors'), 'empty');
    mirrors = undefined;
  }
  if (mirrors !== undefined && configPath !== '') {
    throw new InvalidArgumentError(`${formatKey(at('mirrors'))} cannot be set when config_path is set: put the mirrors in ${configPath}`);
  }
  if (mirrors === undefined && tlsByHost.size === 0) return;

  const endpointsOf = (host: string): URL[] => {
    const m = mirrors?.[host];
    if (!isTable(m)) return [];
    const list = m['endpoint'];
    if (list === undefined) return [];
    if (!Array.isArray(list) || list.some((e) => typeof e !== 'string')) {
      throw new InvalidArgumentError(`${formatKey(at('mirrors', host, 'endpoint'))}: expected a list of URLs`);
    }
    return (list as string[]).map(endpointUrl);
  };
  const hosts = new Set([...Object.keys(mirrors ?? {}), ...tlsByHost.keys()]);
  for (const host of hosts) {
    const dir = host === '*' ? '_default' : host;
    const file = join(hostsDir, dir, 'hosts.toml');
    const endpoints = mirrors?.[host] !== undefined ? endpointsOf(host) : endpointsOf('*');
    const content: Table = {};
    // `_default` has no server of its own: each registry falls back to itself.
    if (host !== '*') content['server'] = defaultServer(host);
    const serverTls = tlsByHost.get(host);
    if (serverTls) {
      Object.assign(content, hostsTls(serverTls, at('configs', host, 'tls'), r));
      r.move(at('configs', host, 'tls'), [], 'the registry server\'s TLS settings', file);
    }
    const hostTable: Table = {};
    for (const u of endpoints) {
      const path = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '');
      const entry: Table = { capabilities: ['pull', 'resolve'] };
      if (path !== '' && !path.endsWith('/v2')) entry['override_path'] = true;
      const tls = tlsByHost.get(u.host);
      if (tls) Object.assign(entry, hostsTls(tls, at('configs', u.host, 'tls'), r));
      hostTable[`${u.protocol}//${u.host}${path}`] = entry;
    }
    if (Object.keys(hostTable).length > 0) content['host'] = hostTable;
    if (mirrors?.[host] !== undefined) r.move(at('mirrors', host), ['host'], 'mirror endpoints, tried in order before the registry', file);
    r.generate({
      path: file,
      content: formatToml(content, {
        header: [
          `Registry hosts for ${host === '*' ? 'every registry without a directory here' : host}, written by Flotilla's`,
          'configuration migration from the CRI registry mirrors and TLS configs.',
        ],
      }),
    });
  }
  if (mirrors !== undefined) {
    delete registry['mirrors'];
    r.deprecate(DeprecationId.CRIRegistryMirrors, at('mirrors'));
  }
  if (tlsByHost.size > 0) {
    for (const host of tlsByHost.keys()) {
      const c = (registry['configs'] as Table | undefined)?.[host] as Table | undefined;
      if (c) delete c['tls'];
      if (c && Object.keys(c).length === 0) delete (registry['configs'] as Table)[host];
    }
    if (isTable(registry['configs']) && Object.keys(registry['configs']).length === 0) delete registry['configs'];
    r.deprecate(DeprecationId.CRIRegistryConfigs, at('configs'));
  }
  registry['config_path'] = hostsDir;
  r.move(mirrors !== undefined ? at('mirrors') : at('configs'), at('config_path'), `hosts.toml files under ${hostsDir}`);
}
