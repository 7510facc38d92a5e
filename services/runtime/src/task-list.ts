import type { Shim } from './shim.js';

/** The shims this runtime holds, by namespace and task id (containerd's runtime.NSMap). */
export interface TaskList {
  get(namespace: string, id: string): Shim | undefined;
  /** Every shim of a namespace, in the order they were added. */
  list(namespace: string): Shim[];
  all(): Shim[];
  add(shim: Shim): void;
  /** Remove this shim (not whatever now holds its id). */
  remove(shim: Shim): void;
}

export function taskList(): TaskList {
  const byNamespace = new Map<string, Map<string, Shim>>();
  return {
    get: (ns, id) => byNamespace.get(ns)?.get(id),
    list: (ns) => [...(byNamespace.get(ns)?.values() ?? [])],
    all: () => [...byNamespace.values()].flatMap((m) => [...m.values()]),
    add(shim) {
      let m = byNamespace.get(shim.namespace);
      if (!m) byNamespace.set(shim.namespace, (m = new Map()));
      m.set(shim.id, shim);
    },
    remove(shim) {
      const m = byNamespace.get(shim.namespace);
      if (m?.get(shim.id) !== shim) return;
      m.delete(shim.id);
      if (m.size === 0) byNamespace.delete(shim.namespace);
    },
  };
}
