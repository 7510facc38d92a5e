import { create } from '@bufbuild/protobuf';
import type { StateResponse } from '@flotilla/proto/containerd/task/v2/shim_pb';
import { ProcessSchema, Status, type Process } from '@flotilla/proto/containerd/types/task/task_pb';

const KNOWN = new Set<Status>([Status.CREATED, Status.RUNNING, Status.STOPPED, Status.PAUSED, Status.PAUSING]);

/**
 * A process as the tasks API reports it, from what its shim says. `id` is the task's id for the init
 * process and the exec id for an exec; containerd leaves container_id unset here, and so do we.
 */
export function processOf(id: string, state: StateResponse): Process {
  return create(ProcessSchema, {
    id,
    pid: state.pid,
    status: KNOWN.has(state.status) ? state.status : Status.UNKNOWN,
    stdin: state.stdin,
    stdout: state.stdout,
    stderr: state.stderr,
    terminal: state.terminal,
    exitStatus: state.exitStatus,
    exitedAt: state.exitedAt,
  });
}
