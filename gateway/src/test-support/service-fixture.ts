import { afterEach, beforeEach } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Channel } from 'nice-grpc';
import type { Envelope } from '@flotilla/proto/containerd/types/event_pb';
import { createLogger } from '@flotilla/log';
import { createRpcServer, listenUnix, type RpcServer } from '@flotilla/rpc';
import { dialUnix } from '@flotilla/rpc/client';
import { openMetadata, type Db } from '../metadata/db.js';
import { createExchange, type Exchange } from '../events/exchange.js';

/** One gateway service as its tests see it; made afresh before each test. */
export interface ServiceFixture {
  readonly db: Db;
  readonly events: Exchange;
  /** Every event published since the test began, in order. */
  readonly seen: Envelope[];
  /** A client channel to the service's own socket. */
  readonly channel: Channel;
}

/**
 * Serve one gateway service on a socket of its own over a fresh metadata database for each test of the
 * file, and tear it all down after: `register` adds the service to the server. Call at the top level of
 * a test file; the fields are those of the test that is running.
 */
export function serviceFixture(name: string, register: (server: RpcServer, db: Db, events: Exchange) => void): ServiceFixture {
  let current: (ServiceFixture & { dir: string; server: RpcServer; stop: AbortController }) | undefined;
  beforeEach(async () => {
    const dir = mkdtempSync(join(tmpdir(), `${name}-svc-`));
    const db = openMetadata(join(dir, 'meta.db'));
    const log = createLogger({ service: 'test', level: 'silent' });
    const events = createExchange(log);
    const seen: Envelope[] = [];
    const stop = new AbortController();
    void (async () => { for await (const e of events.subscribe(stop.signal)) seen.push(e); })();
    const server = createRpcServer(log);
    register(server, db, events);
    await listenUnix(server, join(dir, `${name}.sock`));
    current = { dir, db, events, seen, server, stop, channel: dialUnix(join(dir, `${name}.sock`)) };
  });
  afterEach(() => {
    if (current === undefined) return;
    const { stop, channel, server, db, dir } = current;
    current = undefined;
    stop.abort();
    channel.close();
    server.forceShutdown();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const now = () => {
    if (current === undefined) throw new Error('serviceFixture used outside a test');
    return current;
  };
  return {
    get db() { return now().db; },
    get events() { return now().events; },
    get seen() { return now().seen; },
    get channel() { return now().channel; },
  };
}
