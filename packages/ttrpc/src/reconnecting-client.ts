import { dialTtrpc, type CallOptions, type DialOptions, type TtrpcClient } from './client.js';

/**
 * A ttrpc client that dials on first use and dials again on the next call after its connection dropped,
 * as a shim's event publisher does towards containerd, whose restarts it must outlive. A call in flight
 * when the connection drops fails (it may have run); only the calls after it use the new connection.
 */
export interface ReconnectingTtrpcClient {
  call(service: string, method: string, payload: Uint8Array, opts?: CallOptions): Promise<Uint8Array>;
  /** The connection calls use now, dialing if there is none. */
  current(): Promise<TtrpcClient>;
  close(): void;
}

export function reconnectingTtrpc(address: string, opts: DialOptions = {}): ReconnectingTtrpcClient {
  let client: Promise<TtrpcClient> | undefined;
  let stopped = false;
  const current = async (): Promise<TtrpcClient> => {
    if (client !== undefined) {
      const c = await client.catch(() => undefined);
      if (c !== undefined && !c.closed) return c;
    }
    // One dial at a time: calls that find the connection gone together share it.
    const dialing = dialTtrpc(address, opts);
    client = dialing;
    const c = await dialing;
    if (stopped) c.close();
    return c;
  };
  return {
    current,
    async call(service, method, payload, callOpts) {
      return (await current()).call(service, method, payload, callOpts);
    },
    close() {
      stopped = true;
      void client?.then((c) => c.close(), () => undefined);
    },
  };
}
