import type { Registration, ServiceName } from '@flotilla/plugin';

/**
 * The plugins each `flotilla service <name>` process hosts. A service whose package has no code yet hosts
 * none: its process still runs, answers health and introspection, and the gateway supervises it, so the
 * cluster's shape is real before its parts are.
 */
export const serviceRegistrations: Record<ServiceName, () => Promise<readonly Registration[]>> = {
  content: async () => (await import('@flotilla/service-content')).contentPlugins,
  'snapshotter-overlay': async () => (await import('@flotilla/service-snapshotter-overlay')).overlayPlugins,
  'snapshotter-blockfile': async () => [],
  runtime: async () => (await import('@flotilla/service-runtime')).runtimePlugins,
  sandbox: async () => [],
  transfer: async () => (await import('@flotilla/service-transfer')).transferPlugins,
  nri: async () => [],
};
