import { fromBinary } from '@bufbuild/protobuf';
import { InvalidArgumentError } from '@flotilla/errdefs';
import { TaskExitSchema } from '@flotilla/proto/containerd/events/task_pb';
import { Events } from '@flotilla/proto/containerd/services/events/ttrpc/v1/events_pb';
import type { TtrpcServer } from '@flotilla/ttrpc';
import type { EventSink } from './event-sink.js';
import type { ExitLedger } from './exit-ledger.js';

export const TASK_EXIT_TOPIC = '/tasks/exit';

export interface EventsServiceOptions {
  sink: EventSink;
  ledger: ExitLedger;
  /** Where a task's bundle is, for the exit ledger. */
  bundlePath(namespace: string, id: string): string;
}

/**
 * `containerd.services.events.ttrpc.v1.Events`, which shims call to publish (TTRPC_ADDRESS). Each event
 * is answered only once the gateway's event service has it: a shim publishes one event at a time and
 * retries what failed, so its events arrive in order and none is lost while the gateway restarts.
 */
export function registerEventsService(server: TtrpcServer, o: EventsServiceOptions): void {
  server.register(Events, {
    async forward(req, ctx) {
      const e = req.envelope;
      if (e === undefined) throw new InvalidArgumentError('forward: envelope is required');
      if (e.topic === TASK_EXIT_TOPIC && e.event?.typeUrl.endsWith(TaskExitSchema.typeName)) {
        const exit = fromBinary(TaskExitSchema, e.event.value);
        // An exec's exit is the exec's business; only the init process's exit ends the task.
        if (exit.id === exit.containerId) {
          const path = o.bundlePath(e.namespace, exit.containerId);
          if (!o.ledger.claim(path)) {
            ctx.log.debug({ id: exit.containerId }, 'task exit already published; duplicate dropped');
            return {};
          }
          try {
            await o.sink.forward(e, ctx.signal);
          } catch (err) {
            o.ledger.release(path);
            throw err;
          }
          await o.ledger.confirm(path);
          return {};
        }
      }
      await o.sink.forward(e, ctx.signal);
      return {};
    },
  });
}
