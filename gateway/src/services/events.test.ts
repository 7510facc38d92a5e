import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, fromBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Metadata, type Channel } from 'nice-grpc';
import { Events } from '@flotilla/proto/containerd/services/events/v1/events_pb';
import { ContainerCreateSchema, ContainerDeleteSchema } from '@flotilla/proto/containerd/events/container_pb';
import { TaskExitSchema } from '@flotilla/proto/containerd/events/task_pb';
import { EnvelopeSchema, type Envelope } from '@flotilla/proto/containerd/types/event_pb';
import { FailedPreconditionError, InvalidArgumentError, ResourceExhaustedError } from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import { createRpcServer, listenUnix, type RpcServer, type ShapeOf } from '@flotilla/rpc';
import { clientOf, dialUnix, type ServiceClient } from '@flotilla/rpc/client';
import { createExchange, packAny, type Exchange } from '../events/exchange.js';
import { eventsService } from './events.js';

const ns = (n: string) => ({ metadata: Metadata({ 'containerd-namespace': n }) });

let dir: string;
let server: RpcServer;
let channel: Channel;
let exchange: Exchange;
let client: ServiceClient<ShapeOf<typeof Events>>;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'events-svc-'));
  const log = createLogger({ service: 'test', level: 'silent' });
  exchange = createExchange(log);
  server = createRpcServer(log);
  eventsService(exchange).register(server);
  await listenUnix(server, join(dir, 'events.sock'));
  channel = dialUnix(join(dir, 'events.sock'));
  client = clientOf(Events, channel);
});
afterEach(async () => {
  channel.close();
  server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

/** A subscription over the wire, resolved once the server has it in place (its response headers). */
async function subscribe(filters: string[] = [], signal?: AbortSignal): Promise<AsyncIterator<Envelope>> {
  let ready!: () => void;
  const subscribed = new Promise<void>((r) => { ready = r; });
  const it = client.subscribe({ filters }, { onHeader: () => ready(), ...(signal ? { signal } : {}) })[Symbol.asyncIterator]();
  // The call starts on the first pull; keep that pull as the first event.
  const first = it.next();
  await Promise.race([subscribed, first]);
  let pending: Promise<IteratorResult<Envelope>> | undefined = first;
  return {
    next() {
      const p = pending ?? it.next();
      pending = undefined;
      return p;
    },
  };
}

const topicOf = async (it: AsyncIterator<Envelope>) => (await it.next()).value?.topic;

describe('events service', () => {
  it('publishes with the caller\'s namespace and the time, the event passed through unread', async () => {
    const sub = await subscribe();
    const event = packAny(ContainerCreateSchema, { id: 'c1' });
    const before = Date.now();
    await client.publish({ topic: '/containers/create', event }, ns('n1'));
    await client.publish({ topic: '/custom/thing', event: { typeUrl: 'example.com/Unknown', value: new Uint8Array([1, 2]) } }, ns('n2'));
    const e = (await sub.next()).value as Envelope;
    expect(e).toMatchObject({ namespace: 'n1', topic: '/containers/create', event: { typeUrl: 'containerd.events.ContainerCreate' } });
    expect(fromBinary(ContainerCreateSchema, e.event!.value).id).toBe('c1');
    expect(Number(e.timestamp!.seconds) * 1000).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect((await sub.next()).value).toMatchObject({ namespace: 'n2', topic: '/custom/thing', event: { typeUrl: 'example.com/Unknown' } });
  });

  it('refuses a publication without a namespace or with a malformed topic, as containerd words it', async () => {
    await expect(client.publish({ topic: '/a' }, {})).rejects.toThrow(new FailedPreconditionError('failed publishing event: namespace is required'));
    await expect(client.publish({ topic: '/a' }, ns('bad/ns'))).rejects.toThrow(/^failed publishing event: namespace validation: identifier "bad\/ns" must match/);
    for (const [topic, why] of [
      ['', 'must not be empty'],
      ['a/b', 'must start with \'/\''],
      ['/', 'must have at least one component'],
      ['/a//b', 'failed validation on component "": identifier must not be empty'],
      ['/tasks/ex it', 'failed validation on component "ex it": identifier "ex it" must match'],
    ] as const) {
      const err = await client.publish({ topic }, ns('n')).catch((e: unknown) => e);
      expect(err, topic).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message, topic).toContain(`envelope topic ${JSON.stringify(topic)}: ${why}`);
    }
  });

  it('forwards an envelope untouched, and refuses one with no valid namespace, topic or timestamp', async () => {
    const sub = await subscribe();
    const envelope = { timestamp: timestampFromMs(1_234_567), namespace: 'n', topic: '/tasks/exit', event: packAny(TaskExitSchema, { containerId: 'c', exitStatus: 3 }) };
    await client.forward({ envelope }, {});
    const e = (await sub.next()).value as Envelope;
    expect(e.timestamp).toEqual(envelope.timestamp);
    expect(fromBinary(TaskExitSchema, e.event!.value)).toMatchObject({ containerId: 'c', exitStatus: 3 });

    await expect(client.forward({ envelope: { ...envelope, namespace: '' } }, {}))
      .rejects.toThrow(new InvalidArgumentError('event envelope has invalid namespace: identifier must not be empty'));
    await expect(client.forward({ envelope: { ...envelope, topic: 'tasks' } }, {})).rejects.toThrow(/envelope topic "tasks": must start with/);
    await expect(client.forward({ envelope: { ...envelope, timestamp: undefined } }, {}))
      .rejects.toThrow(new InvalidArgumentError('timestamp must be set on forwarded event'));
    await expect(client.forward({}, {})).rejects.toThrow(InvalidArgumentError);
  });

  it('streams only what the subscription\'s filters match, over topic, namespace and event fields', async () => {
    const sub = await subscribe(['topic=="/containers/delete"', 'namespace==other,event.id==wanted']);
    exchange.publish('n', '/containers/create', ContainerCreateSchema, { id: 'wanted' });
    exchange.publish('other', '/containers/create', ContainerCreateSchema, { id: 'unwanted' });
    exchange.publish('other', '/containers/create', ContainerCreateSchema, { id: 'wanted' });
    exchange.publish('n', '/containers/delete', ContainerDeleteSchema, { id: 'x' });
    expect(await topicOf(sub)).toBe('/containers/create');
    expect(await topicOf(sub)).toBe('/containers/delete');
  });

  it('refuses malformed filters', async () => {
    const err = await (async () => {
      for await (const e of client.subscribe({ filters: ['topic=='] })) return e;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(/^subscription error: failed parsing subscription filters: filters: parse error: \[topic==\]/);
  });

  it('lets a subscriber go when the client does, and ends a too-slow one with ResourceExhausted', async () => {
    const ac = new AbortController();
    const sub = await subscribe([], ac.signal);
    ac.abort();
    await expect(sub.next()).rejects.toThrow();

    // A subscriber that does not read: the exchange drops it once its queue is full, however much the
    // transport buffers.
    const slow = create(EnvelopeSchema, { timestamp: timestampFromMs(1), namespace: 'n', topic: '/big', event: { typeUrl: 'x', value: new Uint8Array(1024) } });
    const stalled = await subscribe();
    for (let i = 0; i < 20_000; i++) exchange.forward(slow);
    let n = 0;
    const err = await (async () => {
      for (;;) {
        const r = await stalled.next();
        if (r.done) return undefined;
        n++;
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResourceExhaustedError);
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(20_000);
  });
});
