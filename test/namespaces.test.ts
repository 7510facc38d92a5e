import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metadata } from 'nice-grpc';
import { Namespaces } from '@flotilla/proto/containerd/services/namespaces/v1/namespace_pb';
import { Leases } from '@flotilla/proto/containerd/services/leases/v1/leases_pb';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  kindOf,
} from '@flotilla/errdefs';
import { clientOf, dialUnix } from '@flotilla/rpc/client';
import { startFlotilla, type Flotilla } from './support/flotilla.js';
import { startContainerd, type Containerd } from './support/containerd.js';
import { ctrOutcome } from './support/ctr-outcome.js';

// Every case runs against Debian's containerd and against Flotilla with the same client; the two must
// agree. containerd is the specification here.
let f: Flotilla;
let c: Containerd;
beforeAll(async () => {
  [f, c] = await Promise.all([startFlotilla(), startContainerd()]);
});
afterAll(async () => {
  await Promise.all([f?.stop(), c?.stop()]);
});


const script: string[][] = [
  ['namespaces', 'ls'],
  ['namespaces', 'create', 'alpha', 'team=a', 'tier=gold'],
  ['namespaces', 'create', 'alpha'],
  ['namespaces', 'create', 'Not_Valid!'],
  ['namespaces', 'create', 'beta'],
  ['namespaces', 'ls'],
  ['namespaces', 'ls', '-q'],
  ['namespaces', 'label', 'alpha', 'tier=silver', 'extra=1'],
  ['namespaces', 'label', 'alpha', 'team='],
  ['namespaces', 'ls'],
  // containerd creates a namespace on the fly when a label is set on an unknown one.
  ['namespaces', 'label', 'gamma', 'made=bylabel'],
  ['namespaces', 'ls'],
  // ctr treats NotFound on removal as done, and says the name.
  ['namespaces', 'rm', 'nope'],
  // A lease does not hold its namespace open: it goes with it.
  ['-n', 'beta', 'leases', 'create', '--id', 'hold'],
  ['namespaces', 'rm', 'beta'],
  ['namespaces', 'ls', '-q'],
  ['-n', 'beta', 'leases', 'ls', '-q'],
  ['namespaces', 'rm', 'beta', 'gamma'],
  ['namespaces', 'ls'],
];

describe('namespaces through the real ctr, side by side with containerd', () => {
  it('every command gives the same output and outcome', async () => {
    for (const args of script) {
      const [want, got] = [await c.ctr(args), await f.ctr(args)];
      const label = `ctr ${args.join(' ')}`;
      expect(ctrOutcome(got), `${label}\ncontainerd: ${want.stderr}\nflotilla: ${got.stderr}`).toBe(ctrOutcome(want));
      expect(got.stdout, label).toBe(want.stdout);
    }
  });
});

describe('namespace errors over gRPC, side by side with containerd', () => {
  async function both<T>(fn: (target: { address: string }) => Promise<T>): Promise<[unknown, unknown]> {
    const settle = (p: Promise<T>) => p.then(() => undefined, (e: unknown) => e);
    return [await settle(fn(c)), await settle(fn(f))];
  }

  it.each([
    ['create an existing namespace', AlreadyExistsError, async (a: string) => {
      const ch = dialUnix(a);
      const ns = clientOf(Namespaces, ch);
      try {
        await ns.create({ namespace: { name: 'dup' } }).catch(() => {});
        await ns.create({ namespace: { name: 'dup' } });
      } finally { ch.close(); }
    }],
    ['delete an unknown namespace', NotFoundError, async (a: string) => {
      const ch = dialUnix(a);
      try { await clientOf(Namespaces, ch).delete({ name: 'unknown' }); } finally { ch.close(); }
    }],
    ['create an invalid name', InvalidArgumentError, async (a: string) => {
      const ch = dialUnix(a);
      try { await clientOf(Namespaces, ch).create({ namespace: { name: '-bad-' } }); } finally { ch.close(); }
    }],
    ['update a field other than labels', InvalidArgumentError, async (a: string) => {
      const ch = dialUnix(a);
      try { await clientOf(Namespaces, ch).update({ namespace: { name: 'x' }, updateMask: { paths: ['name'] } }); } finally { ch.close(); }
    }],
    ['a namespaced call without a namespace', FailedPreconditionError, async (a: string) => {
      const ch = dialUnix(a);
      try { await clientOf(Leases, ch).list({}); } finally { ch.close(); }
    }],
    ['a namespaced call with an invalid namespace', InvalidArgumentError, async (a: string) => {
      const ch = dialUnix(a);
      try { await clientOf(Leases, ch).list({}, { metadata: Metadata({ 'containerd-namespace': 'no/slashes' }) }); } finally { ch.close(); }
    }],
  ] as const)('%s', async (_what, cls, call) => {
    const [want, got] = await both((t) => call(t.address));
    expect(kindOf(want), 'containerd').toBe(new cls('').kind);
    expect(got).toBeInstanceOf(cls);
  });

  it('an unknown namespace reads as one without labels, as containerd answers', async () => {
    const read = async (address: string) => {
      const ch = dialUnix(address);
      try { return (await clientOf(Namespaces, ch).get({ name: 'never-made' })).namespace; } finally { ch.close(); }
    };
    const [want, got] = [await read(c.address), await read(f.address)];
    expect(got?.name).toBe(want?.name);
    expect(got?.labels).toEqual(want?.labels);
  });
});
