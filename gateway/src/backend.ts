import { dialH2, type H2Channel } from '@flotilla/rpc/client';
import type { Supervised } from './processes/supervisor.js';

/**
 * Somewhere the gateway relays calls to: a supervised built-in process or an operator's
 * `[proxy_plugins]` entry. Both are just a socket, as containerd sees a proxy plugin.
 */
export interface Backend {
  readonly name: string;
  readonly address: string;
  /** Relayed and proxied calls go over our own HTTP/2 client (@flotilla/rpc dialH2) as raw bytes, without grpc-js's layers. */
  readonly h2: H2Channel;
  /** Why calls cannot go through right now, or undefined when they can. */
  unavailable(): string | undefined;
}

export function processBackend(p: Supervised): Backend {
  return {
    name: p.name,
    address: p.socket,
    h2: p.h2,
    unavailable: () => (p.state() === 'running' ? undefined : (p.lastError() ?? `plugin process ${p.name} is ${p.state()}`)),
  };
}

/** An external plugin: gRPC reports its failures itself (Unavailable), as containerd's proxy does. */
export function proxyBackend(name: string, address: string): Backend {
  const path = address.replace(/^unix:\/\//, '');
  return { name, address, h2: dialH2(path), unavailable: () => undefined };
}
