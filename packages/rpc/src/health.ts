import { create } from '@bufbuild/protobuf';
import {
  Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from '@flotilla/proto/grpc/health/v1/health_pb';
import { ServerError, Status } from 'nice-grpc-common';
import type { Implementation } from './implementation.js';

export { ServingStatus };

export interface HealthRegistry {
  readonly implementation: Implementation<typeof Health>;
  /** Set the status of a service name; '' is the whole server. Watchers see the change at once. */
  set(service: string, status: ServingStatus): void;
  /** Mark everything NOT_SERVING (shutdown begins). */
  shutdown(): void;
}

/**
 * grpc.health.v1 as the spec reads: Check answers NOT_FOUND for a name never registered, Watch streams
 * SERVICE_UNKNOWN for it and every later change.
 */
export function createHealth(): HealthRegistry {
  const statuses = new Map<string, ServingStatus>([['', ServingStatus.SERVING]]);
  const watchers = new Set<() => void>();
  const notify = () => { for (const w of watchers) w(); };

  const implementation: Implementation<typeof Health> = {
    async check(req) {
      const status = statuses.get(req.service);
      if (status === undefined) throw new ServerError(Status.NOT_FOUND, `unknown service ${req.service}`);
      return create(HealthCheckResponseSchema, { status });
    },
    async *watch(req, ctx) {
      let last: ServingStatus | undefined;
      while (!ctx.signal.aborted) {
        const now = statuses.get(req.service) ?? ServingStatus.SERVICE_UNKNOWN;
        if (now !== last) {
          last = now;
          yield create(HealthCheckResponseSchema, { status: now });
        }
        await new Promise<void>((resolve) => {
          const wake = () => { watchers.delete(wake); ctx.signal.removeEventListener('abort', wake); resolve(); };
          watchers.add(wake);
          ctx.signal.addEventListener('abort', wake);
        });
      }
    },
  };

  return {
    implementation,
    set(service, status) { statuses.set(service, status); notify(); },
    shutdown() { for (const k of statuses.keys()) statuses.set(k, ServingStatus.NOT_SERVING); notify(); },
  };
}
