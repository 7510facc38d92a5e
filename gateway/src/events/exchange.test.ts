import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { ContainerCreateSchema, ContainerDeleteSchema } from '@flotilla/proto/containerd/events/container_pb';
import { ImageCreateSchema } from '@flotilla/proto/containerd/events/image_pb';
import { EnvelopeSchema, type Envelope } from '@flotilla/proto/containerd/types/event_pb';
import { InvalidArgumentError, ResourceExhaustedError } from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import { createExchange, packAny, type Exchange } from './exchange.js';

const log = createLogger({ service: 'test', level: 'silent' });

let exchange: Exchange;
let stop: AbortController;
beforeEach(() => {
  exchange = createExchange(log);
  stop = new AbortController();
});
afterEach(() => stop.abort());

/** Everything a subscription has queued so far, without waiting for more. */
async function drain(it: AsyncIterator<Envelope>, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await it.next();
    if (r.done) break;
    out.push(`${r.value.namespace} ${r.value.topic}`);
  }
  return out;
}

describe('event exchange', () => {
  it('delivers nothing of a hidden namespace, published or forwarded, until it is shown again', async () => {
    const sub = exchange.subscribe(stop.signal);
    const show = exchange.hide('quiet');
    exchange.publish('quiet', '/images/create', ImageCreateSchema, { name: 'hidden' });
    exchange.forward(create(EnvelopeSchema, { namespace: 'quiet', topic: '/containers/create', event: packAny(ContainerCreateSchema, { id: 'c' }) }));
    exchange.publish('loud', '/images/create', ImageCreateSchema, { name: 'seen' });
    show();
    exchange.publish('quiet', '/containers/delete', ContainerDeleteSchema, { id: 'c' });
    expect(await drain(sub, 2)).toEqual(['loud /images/create', 'quiet /containers/delete']);
  });

  it('delivers to every subscriber in publication order, with containerd\'s bare type URLs', async () => {
    const a = exchange.subscribe(stop.signal);
    const b = exchange.subscribe(stop.signal);
    exchange.publish('n1', '/containers/create', ContainerCreateSchema, { id: 'c1' });
    exchange.publish('n2', '/images/create', ImageCreateSchema, { name: 'img' });
    exchange.publish('n1', '/containers/delete', ContainerDeleteSchema, { id: 'c1' });
    const want = ['n1 /containers/create', 'n2 /images/create', 'n1 /containers/delete'];
    expect(await drain(a, 3)).toEqual(want);
    expect(await drain(b, 3)).toEqual(want);
    exchange.publish('n1', '/containers/create', ContainerCreateSchema, { id: 'c2' });
    const e = (await a.next()).value as Envelope;
    expect(e.event?.typeUrl).toBe('containerd.events.ContainerCreate');
    expect(e.timestamp).toBeDefined();
  });

  it('sees only what is published after subscribing', async () => {
    exchange.publish('n', '/containers/create', ContainerCreateSchema, { id: 'before' });
    const sub = exchange.subscribe(stop.signal);
    exchange.publish('n', '/containers/delete', ContainerDeleteSchema, { id: 'after' });
    expect(await drain(sub, 1)).toEqual(['n /containers/delete']);
  });

  it('forwards an envelope exactly as it came, timestamp included', async () => {
    const sub = exchange.subscribe(stop.signal);
    const envelope = create(EnvelopeSchema, {
      timestamp: timestampFromMs(1_000),
      namespace: 'n',
      topic: '/tasks/exit',
      event: packAny(ContainerDeleteSchema, { id: 'x' }),
    });
    exchange.forward(envelope);
    expect((await sub.next()).value).toBe(envelope);
  });

  it('queues only what a subscriber\'s filters match', async () => {
    const sub = exchange.subscribe(stop.signal, { filters: ['topic~="^/containers/"', 'namespace==n2'] });
    exchange.publish('n1', '/containers/create', ContainerCreateSchema, { id: 'c1' });
    exchange.publish('n1', '/images/create', ImageCreateSchema, { name: 'img' });
    exchange.publish('n2', '/images/create', ImageCreateSchema, { name: 'img' });
    exchange.publish('n1', '/containers/delete', ContainerDeleteSchema, { id: 'c1' });
    expect(await drain(sub, 3)).toEqual(['n1 /containers/create', 'n2 /images/create', 'n1 /containers/delete']);
  });

  it('refuses malformed filters before subscribing, worded as containerd\'s exchange', () => {
    expect(() => exchange.subscribe(stop.signal, { filters: ['topic=='] })).toThrow(InvalidArgumentError);
    expect(() => exchange.subscribe(stop.signal, { filters: ['topic=='] })).toThrow(/^failed parsing subscription filters: filters: parse error: \[topic==\]: /);
  });

  it('never blocks a publisher: a subscriber too far behind is dropped, and told so after what it had', async () => {
    const slow = exchange.subscribe(stop.signal, { maxQueue: 3 });
    const fast = exchange.subscribe(stop.signal, { maxQueue: 3 });
    const ignoring = exchange.subscribe(stop.signal, { maxQueue: 3, filters: ['topic=="/nothing"'] });
    for (let i = 0; i < 5; i++) {
      exchange.publish('n', `/t/e${i}`, ContainerCreateSchema, { id: `c${i}` });
      // The fast one keeps up.
      expect((await fast.next()).value?.topic).toBe(`/t/e${i}`);
    }
    expect(await drain(slow, 3)).toEqual(['n /t/e0', 'n /t/e1', 'n /t/e2']);
    await expect(slow.next()).rejects.toThrow(ResourceExhaustedError);
    // Events its filters refuse do not count against a subscriber.
    exchange.publish('n', '/nothing', ContainerCreateSchema, {});
    expect((await ignoring.next()).value?.topic).toBe('/nothing');
  });

  it('ends a subscription when its signal aborts or its iteration is left', async () => {
    const ac = new AbortController();
    const aborted = exchange.subscribe(ac.signal);
    const pending = aborted.next();
    ac.abort();
    expect(await pending).toEqual({ value: undefined, done: true });

    const left = exchange.subscribe(stop.signal);
    let seen = 0;
    exchange.publish('n', '/a', ContainerCreateSchema, {});
    for await (const e of left) {
      expect(e.topic).toBe('/a');
      seen++;
      break;
    }
    expect(seen).toBe(1);
    exchange.publish('n', '/b', ContainerCreateSchema, {});
    expect(await left.next()).toEqual({ value: undefined, done: true });

    const never = exchange.subscribe(AbortSignal.abort());
    exchange.publish('n', '/c', ContainerCreateSchema, {});
    expect(await never.next()).toEqual({ value: undefined, done: true });
  });
});
