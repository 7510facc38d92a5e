import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { create } from '@bufbuild/protobuf';
import { Health, HealthCheckRequestSchema, HealthCheckResponse_ServingStatus } from '@flotilla/proto/grpc/health/v1/health_pb';
import { Namespaces, UpdateNamespaceRequestSchema } from '@flotilla/proto/containerd/services/namespaces/v1/namespace_pb';
import { clientOf, dialUnix } from '@flotilla/rpc/client';
import { createLogger } from '@flotilla/log';
import { createLocalStore, remoteContentStore } from '@flotilla/service-content';
import { startFlotilla, flotillaBin, type Flotilla } from '../support/flotilla.js';
import { waitFor } from '../support/exec.js';
import { contentSuite, type ContentTarget } from './suite.js';

// containerd's content conformance suite against each way Flotilla serves content: the store in this
// process, the content plugin process over its own socket, and the gateway (namespaced metadata in front
// of the content process), the last under both of containerd's content sharing policies.

const silent = () => createLogger({ service: 'content', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

contentSuite('local store', async (): Promise<ContentTarget> => {
  const dir = mkdtempSync(join(tmpdir(), 'content-suite-local-'));
  const store = await createLocalStore({ root: dir, log: silent() });
  return {
    store: () => store,
    namespaced: false,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

contentSuite('content process socket', async (): Promise<ContentTarget> => {
  const dir = mkdtempSync(join(tmpdir(), 'content-suite-process-'));
  const socket = join(dir, 'content.sock');
  const logFile = join(dir, 'content.log');
  const out = openSync(logFile, 'a');
  const child = spawn(
    flotillaBin,
    ['service', 'content', '--address', socket, '--root', join(dir, 'root'), '--state', join(dir, 'state'), '--log-level', 'debug'],
    { stdio: ['ignore', out, out] },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const channel = dialUnix(socket);
  const stop = async () => {
    channel.close();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const health = clientOf(Health, channel);
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
      const res = await health.check(create(HealthCheckRequestSchema, {}), { signal: AbortSignal.timeout(2000) });
      return res.status === HealthCheckResponse_ServingStatus.SERVING;
    }, 'the content process to serve', 30_000);
  } catch (err) {
    const log = readFileSync(logFile, 'utf8');
    await stop();
    throw new Error(`content process did not start: ${String(err)}\n${log.slice(-4000)}`);
  }
  const store = remoteContentStore(channel);
  return { store: () => store, namespaced: false, cleanup: stop };
});

/** The gateway; `policy` is containerd's `content_sharing_policy` of its metadata plugin. */
function gatewayTarget(policy: 'shared' | 'isolated') {
  return async (): Promise<ContentTarget> => {
    const f: Flotilla = await startFlotilla(
      policy === 'isolated'
        ? { extraConfig: '[plugins."io.containerd.metadata.v1.bolt"]\n  content_sharing_policy = "isolated"\n' }
        : {},
    );
    const namespaces = clientOf(Namespaces, f.channel);
    const stores = new Map<string, ReturnType<typeof remoteContentStore>>();
    return {
      store(namespace = 'default') {
        let s = stores.get(namespace);
        if (!s) stores.set(namespace, (s = remoteContentStore(f.channel, { namespace })));
        return s;
      },
      namespaced: true,
      contentSharingPolicy: policy,
      async setNamespaceLabels(name, labels) {
        // As `ctr namespaces label`: one labels.<key> path per label; an unknown namespace is created.
        await namespaces.update(create(UpdateNamespaceRequestSchema, {
          namespace: { name, labels },
          updateMask: { paths: Object.keys(labels).map((k) => `labels.${k}`) },
        }));
      },
      cleanup: () => f.stop(),
    };
  };
}

contentSuite('gateway', gatewayTarget('shared'));
contentSuite('gateway (isolated content sharing policy)', gatewayTarget('isolated'));
