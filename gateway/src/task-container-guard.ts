import { fromBinary, type DescMethod } from '@bufbuild/protobuf';
import { CONTAINER_CHECKED_KEY, requireNamespace } from '@flotilla/rpc';
import type { ContainerStore } from './metadata/containers.js';
import type { RelayGuard } from './router.js';

/**
 * The check containerd's tasks service makes first on every call about one task: that its container
 * exists. The gateway owns the container records, so it answers a missing container itself (as the
 * runtime would, having asked the gateway) and tells the runtime which container it checked, sparing
 * every task call a second hop back to the gateway. Create is left alone: the runtime needs the whole
 * record, and fetches it.
 */
export function taskContainerGuard(containers: ContainerStore): RelayGuard {
  // Per method, once: does its request name a container in field 1, as all of the task API's do?
  const named = new WeakMap<DescMethod, boolean>();
  const namesContainer = (m: DescMethod) => {
    let n = named.get(m);
    if (n === undefined) {
      n = m.name !== 'Create' && m.input.fields.some((f) => f.number === 1 && f.localName === 'containerId' && f.fieldKind === 'scalar');
      named.set(m, n);
    }
    return n;
  };
  return (method, request, ctx) => {
    if (request === undefined || !namesContainer(method)) return undefined;
    const id = (fromBinary(method.input, request) as unknown as { containerId: string }).containerId;
    // Whatever the runtime makes of a call with no container id or namespace, it makes of it itself.
    if (id === '') return undefined;
    let ns: string;
    try {
      ns = requireNamespace(ctx.metadata);
    } catch {
      return undefined;
    }
    containers.get(ns, id);
    return { [CONTAINER_CHECKED_KEY]: id };
  };
}
