import { create, fromBinary, toBinary, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { NotImplementedError } from '@flotilla/errdefs';
import type { CallOptions, TtrpcClient } from './client.js';
import { mergeMetadata } from './metadata.js';

type UnaryKeys<S extends GenServiceMethods> = {
  [K in keyof S]: S[K]['methodKind'] extends 'unary' ? K : never;
}[keyof S];

/** A generated service's unary methods as typed calls over ttrpc, keyed by their camelCase names. */
export type TtrpcServiceClient<S extends GenServiceMethods> = {
  [K in UnaryKeys<S>]: (
    request: MessageInitShape<S[K]['input']>,
    opts?: CallOptions,
  ) => Promise<MessageShape<S[K]['output']>>;
};

export interface ServiceClientOptions {
  /**
   * The service name on the wire, when it differs from the descriptor's: containerd.task.v2 and v3 have
   * the same messages, so one descriptor serves both versions of the shim API.
   */
  serviceName?: string;
  /** Merged under every call's own options (metadata per key, the call's values win). */
  defaults?: CallOptions;
}

/**
 * Typed calls for `service` over a ttrpc client. `client` may be a function, so a holder whose
 * connection changes (a redialing client) is consulted at each call.
 */
export function serviceClient<S extends GenServiceMethods>(
  service: GenService<S>,
  client: TtrpcClient | (() => TtrpcClient),
  opts: ServiceClientOptions = {},
): TtrpcServiceClient<S> {
  const name = opts.serviceName ?? service.typeName;
  const current = typeof client === 'function' ? client : () => client;
  const out: Record<string, unknown> = {};
  for (const m of service.methods) {
    if (m.methodKind !== 'unary') {
      out[m.localName] = () => Promise.reject(new NotImplementedError(`ttrpc: streaming method ${name}.${m.name} is not supported`));
      continue;
    }
    out[m.localName] = async (request: unknown, callOpts: CallOptions = {}) => {
      const payload = toBinary(m.input, create(m.input, request as never));
      const d = opts.defaults;
      const merged: CallOptions = d === undefined ? callOpts : {
        ...d,
        ...callOpts,
        metadata: mergeMetadata(d.metadata, callOpts.metadata),
      };
      const bytes = await current().call(name, m.name, payload, merged);
      return fromBinary(m.output, bytes);
    };
  }
  return out as TtrpcServiceClient<S>;
}
