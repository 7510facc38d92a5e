import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { UnavailableError } from '@flotilla/errdefs';
import { createLogger } from '@flotilla/log';
import { TaskExitSchema, TaskStartSchema } from '@flotilla/proto/containerd/events/task_pb';
import { Events } from '@flotilla/proto/containerd/services/events/ttrpc/v1/events_pb';
import type { Envelope } from '@flotilla/proto/containerd/types/event_pb';
import { createTtrpcServer, dialTtrpc, serviceClient, type TtrpcClient, type TtrpcServer } from '@flotilla/ttrpc';
import { envelopeOf, type EventSink } from './event-sink.js';
import { registerEventsService } from './events-service.js';
import { exitLedger } from './exit-ledger.js';

const log = createLogger({ service: 'test', level: 'silent' });

let dir: string;
let server: TtrpcServer;
let client: TtrpcClient;
let forwarded: Envelope[];
let refuse: boolean;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'events-service-'));
  forwarded = [];
  refuse = false;
  const sink: EventSink = {
    async forward(e) {
      if (refuse) throw new UnavailableError('events service down');
      forwarded.push(e);
    },
  };
  server = createTtrpcServer({ log });
  registerEventsService(server, { sink, ledger: exitLedger(), bundlePath: (ns, id) => join(dir, ns, id) });
  await server.listen(join(dir, 'events.sock'));
  client = await dialTtrpc(join(dir, 'events.sock'));
  mkdirSync(join(dir, 'ns', 'c1'), { recursive: true });
});
afterEach(() => {
  client.close();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

const events = () => serviceClient(Events, client);
const exit = (id: string, status: number) => envelopeOf('ns', '/tasks/exit', TaskExitSchema, { containerId: 'c1', id, exitStatus: status, pid: 9 });

describe('the events service shims publish to', () => {
  it('forwards events unchanged, in the order they come', async () => {
    const start = envelopeOf('ns', '/tasks/start', TaskStartSchema, { containerId: 'c1', pid: 9 });
    await events().forward({ envelope: start });
    await events().forward({ envelope: exit('c1', 3) });
    expect(forwarded.map((e) => e.topic)).toEqual(['/tasks/start', '/tasks/exit']);
    expect(fromBinary(TaskStartSchema, forwarded[0]!.event!.value).pid).toBe(9);
    expect(forwarded[0]?.namespace).toBe('ns');
  });

  it('passes a task\'s exit on once, however often the shim retries it', async () => {
    await events().forward({ envelope: exit('c1', 7) });
    await events().forward({ envelope: exit('c1', 7) });
    // An exec's exits are not the task's and always pass.
    await events().forward({ envelope: exit('e1', 1) });
    await events().forward({ envelope: exit('e1', 1) });
    expect(forwarded.map((e) => fromBinary(TaskExitSchema, e.event!.value).id)).toEqual(['c1', 'e1', 'e1']);
  });

  it('answers the shim with the event service\'s failure, so that it retries, and then passes the exit', async () => {
    refuse = true;
    await expect(events().forward({ envelope: exit('c1', 7) })).rejects.toBeInstanceOf(UnavailableError);
    refuse = false;
    await events().forward({ envelope: exit('c1', 7) });
    expect(forwarded).toHaveLength(1);
  });
});
