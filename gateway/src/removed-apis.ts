import { CRI_V1ALPHA2_MESSAGE, CRI_V1ALPHA2_SERVICES } from '@flotilla/config';
import type { RpcServer } from '@flotilla/rpc';

/**
 * APIs containerd 2.0 removed: every call answers Unimplemented with a message naming the replacement,
 * where an unknown service would only say the method is unknown. CRI v1alpha2 is the one a client still
 * asks for (kubelets older than 1.26).
 */
export function refuseRemovedApis(server: RpcServer): void {
  for (const service of CRI_V1ALPHA2_SERVICES) server.refuseService(service, CRI_V1ALPHA2_MESSAGE);
}
