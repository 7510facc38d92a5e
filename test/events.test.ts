import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata } from 'nice-grpc';
import { create, toBinary, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { AnySchema, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Events } from '@flotilla/proto/containerd/services/events/v1/events_pb';
import { TaskExitSchema, TaskStartSchema } from '@flotilla/proto/containerd/events/task_pb';
import { clientOf } from '@flotilla/rpc/client';
import { startFlotilla, type Flotilla } from './support/flotilla.js';
import { startContainerd, type Containerd } from './support/containerd.js';
import { ensureFixtures, REGISTRY } from './support/fixtures.js';
import { printed, watchCtrEvents, WARMUP, type CtrEvents } from './support/ctr-events.js';

// `ctr events` against the gateway: what every service publishes reaches subscribers, in order, with
// containerd's topics and payloads, and containerd's filters choose among them. Where the events are
// deterministic (no pull: `--rootfs` containers, namespaces) the printed lines are compared with Debian's
// containerd's, the same ctr on both sides.

const dir = mkdtempSync(join(tmpdir(), 'events-test-'));
const rootfs = join(dir, 'rootfs');
mkdirSync(rootfs);
const IMAGE = `${REGISTRY}/fixtures/busybox:latest`;

/** An event as containerd packs it: the bare type name as the type URL. */
const packAny = <D extends DescMessage>(schema: D, event: MessageInitShape<D>) =>
  create(AnySchema, { typeUrl: schema.typeName, value: toBinary(schema, create(schema, event)) });

let f: Flotilla;
let c: Containerd;
beforeAll(async () => {
  [f, c] = await Promise.all([startFlotilla(), startContainerd()]);
});
afterAll(async () => {
  await Promise.all([f?.stop(), c?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const script: string[][] = [
  ['namespaces', 'create', 'evns', 'team=infra'],
  ['namespaces', 'label', 'evns', 'tier=gold'],
  ['containers', 'create', '--label', 'x=y', '--rootfs', rootfs, 'c1'],
  ['containers', 'label', 'c1', 'k=v'],
  ['containers', 'create', '--rootfs', rootfs, 'c1'], // refused: publishes nothing
  ['containers', 'rm', 'c1'],
  ['-n', 'evns', 'containers', 'create', '--rootfs', rootfs, 'c2'],
  ['-n', 'evns', 'containers', 'rm', 'c2'],
  ['namespaces', 'rm', 'evns'],
];

/** Watch with each filter set on one side, run the script there, and return what each watcher printed. */
async function observe(side: Flotilla | Containerd, filterSets: readonly (readonly string[])[]): Promise<string[][]> {
  const watchers: CtrEvents[] = [];
  try {
    for (const filters of filterSets) watchers.push(await watchCtrEvents(side.address, filters));
    for (const args of script) await side.ctr(args);
    // The script's last change is the namespace's deletion: every watcher that lets it through has seen
    // everything once it has; the others get a moment longer.
    for (const [i, w] of watchers.entries()) {
      if (filterSets[i]!.length === 0) await w.until((e) => e.topic === '/namespaces/delete', '/namespaces/delete');
    }
    await new Promise((r) => setTimeout(r, 300));
    return watchers.map(printed);
  } finally {
    await Promise.all(watchers.map((w) => w.stop()));
  }
}

describe('ctr events against containerd', () => {
  const filterSets = [
    [],
    ['topic~="^/containers/"', `namespace==${WARMUP}`],
    ['event.id==c2', `namespace==${WARMUP}`],
    ['namespace==evns,topic=="/containers/create"', 'event.labels.k==v', `namespace==${WARMUP}`],
  ];

  it('prints the same events, in the same order, for every filter', async () => {
    const [ours, theirs] = await Promise.all([observe(f, filterSets), observe(c, filterSets)]);
    // Every change but the refused creation, namespaces included (created and updated in the caller's
    // namespace, deleted in their own, as containerd publishes them).
    expect(ours[0]).toHaveLength(8);
    expect(ours).toEqual(theirs);
  }, 120_000);

  it('refuses a malformed filter with containerd\'s message, as InvalidArgument', async () => {
    const [ours, theirs] = await Promise.all([f.ctr(['events', 'topic==']), c.ctr(['events', 'topic=='])]);
    expect([ours.code, theirs.code]).toEqual([1, 1]);
    const status = (s: string) => /rpc error: code = (\w+) desc = (.*)$/m.exec(s)?.slice(1);
    // containerd's events service returns its exchange's error unmapped, so the code reaches ctr as
    // Unknown; the error is the client's, and InvalidArgument says so.
    expect(status(ours.stderr)).toEqual(['InvalidArgument', status(theirs.stderr)?.[1]]);
    expect(status(theirs.stderr)).toEqual(['Unknown', 'subscription error: failed parsing subscription filters: filters: parse error: [topic==]: expected value or quoted: invalid argument']);
  });
});

describe('ctr events carries what other processes publish and forward', () => {
  it('prints a forwarded task event with its own timestamp and namespace, and a published one', async () => {
    const w = await watchCtrEvents(f.address);
    try {
      const events = clientOf(Events, f.channel);
      await events.forward({
        envelope: {
          timestamp: timestampFromMs(Date.UTC(2024, 0, 2, 3, 4, 5)),
          namespace: 'shims',
          topic: '/tasks/exit',
          event: packAny(TaskExitSchema, { containerId: 'c1', id: 'c1', pid: 42, exitStatus: 3 }),
        },
      });
      await events.publish({ topic: '/tasks/start', event: packAny(TaskStartSchema, { containerId: 'c1', pid: 42 }) },
        { metadata: Metadata({ 'containerd-namespace': 'shims' }) });
      await w.until((e) => e.topic === '/tasks/start', '/tasks/start');
      expect(w.events.find((e) => e.topic === '/tasks/exit')?.timestamp).toBe('2024-01-02 03:04:05 +0000 UTC');
      expect(printed(w)).toEqual([
        'shims /tasks/exit {"container_id":"c1","id":"c1","pid":42,"exit_status":3,"exited_at":"0001-01-01T00:00:00Z"}',
        'shims /tasks/start {"container_id":"c1","pid":42}',
      ]);
    } finally {
      await w.stop();
    }
  });
});

// Needs the fixtures registry and `ctr images pull` through the gateway (issue 4's diff and transfer
// processes).
describe('ctr events while another ctr pulls, makes and removes a container (fixtures registry)', () => {
  beforeAll(async () => {
    await ensureFixtures();
  }, 900_000);

  it('shows the image, snapshot and container events in order', async () => {
    const w = await watchCtrEvents(f.address);
    try {
      for (const args of [
        ['images', 'pull', '--plain-http', IMAGE],
        ['containers', 'create', IMAGE, 'b1'],
        ['containers', 'rm', 'b1'],
        ['images', 'rm', IMAGE],
      ]) {
        const r = await f.ctr(args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      }
      await w.until((e) => e.topic === '/images/delete', '/images/delete');
      const seen = w.events.filter((e) => e.namespace === 'default').map((e) => `${e.topic} ${e.event}`);
      // In this order, with whatever else (content events, collection) in between.
      const expected = [
        /^\/images\/create \{"name":"127\.0\.0\.1:5000\/fixtures\/busybox:latest"/,
        /^\/snapshot\/prepare \{"key":"extract-/,
        /^\/snapshot\/commit \{"key":"extract-\S* sha256:[0-9a-f]{64}","name":"sha256:[0-9a-f]{64}"/,
        /^\/snapshot\/prepare \{"key":"b1","parent":"sha256:[0-9a-f]{64}"/,
        /^\/containers\/create \{"id":"b1","image":"127\.0\.0\.1:5000\/fixtures\/busybox:latest","runtime":\{"name":"io\.containerd\.runc\.v2"/,
        /^\/snapshot\/remove \{"key":"b1"/,
        /^\/containers\/delete \{"id":"b1"\}$/,
        /^\/images\/delete \{"name":"127\.0\.0\.1:5000\/fixtures\/busybox:latest"/,
      ];
      let at = 0;
      for (const line of seen) if (at < expected.length && expected[at]!.test(line)) at++;
      expect(at, `matched ${at} of ${expected.length} in:\n${seen.join('\n')}`).toBe(expected.length);
    } finally {
      await w.stop();
    }
  }, 120_000);
});
