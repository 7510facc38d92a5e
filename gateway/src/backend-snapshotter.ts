import { UnavailableError } from '@flotilla/errdefs';
import { remoteSnapshotter, type Snapshotter } from '@flotilla/snapshots';
import type { Backend } from './backend.js';
import type { SnapshotBackend } from './metadata/snapshots.js';

/** Every call first asks whether the backend can take it, and answers Unavailable at once when not. */
function guarded(sn: Snapshotter, down: () => string | undefined): Snapshotter {
  const check = () => {
    const why = down();
    if (why !== undefined) throw new UnavailableError(why);
  };
  return {
    stat: async (key) => { check(); return sn.stat(key); },
    update: async (info, fieldpaths) => { check(); return sn.update(info, fieldpaths); },
    usage: async (key) => { check(); return sn.usage(key); },
    mounts: async (key) => { check(); return sn.mounts(key); },
    prepare: async (key, parent, opts) => { check(); return sn.prepare(key, parent, opts); },
    view: async (key, parent, opts) => { check(); return sn.view(key, parent, opts); },
    commit: async (name, key, opts) => { check(); return sn.commit(name, key, opts); },
    remove: async (key) => { check(); return sn.remove(key); },
    walk: async (fn, ...filters) => { check(); return sn.walk(fn, ...filters); },
    cleanup: async () => { check(); return sn.cleanup?.(); },
    close: () => sn.close(),
  };
}

/**
 * The snapshotter a plugin process or a `[proxy_plugins]` entry serves, as the namespaced metadata calls
 * it: over the backend's channel, with `name` in every request (a process answers whatever it is called;
 * a proxy plugin hears the name it was configured under, as containerd sends it). A call made for a
 * namespace carries it, as containerd passes the caller's namespace on to a proxy snapshotter; garbage
 * collection's carry none. While a process is down or restarting, calls answer Unavailable without
 * waiting on the socket, as relayed calls do.
 */
export function backendSnapshotter(backend: Backend, name: string): SnapshotBackend {
  const down = () => backend.unavailable();
  const unnamespaced = guarded(remoteSnapshotter(backend.h2, name), down);
  // One client per namespace in use, made on first use.
  const byNamespace = new Map<string, Snapshotter>();
  return (namespace) => {
    if (namespace === undefined) return unnamespaced;
    let sn = byNamespace.get(namespace);
    if (!sn) byNamespace.set(namespace, (sn = guarded(remoteSnapshotter(backend.h2, name, { namespace }), down)));
    return sn;
  };
}
