import { Metadata } from 'nice-grpc';
import { NotFoundError } from '@flotilla/errdefs';
import { NAMESPACE_KEY } from '@flotilla/rpc';
import { clientOf, type H2Channel } from '@flotilla/rpc/client';
import { Containers, type Container } from '@flotilla/proto/containerd/services/containers/v1/containers_pb';

/** The container records tasks are made from; the gateway keeps them. */
export interface ContainerLookup {
  /** The container, or NotFoundError. */
  get(namespace: string, id: string, signal?: AbortSignal): Promise<Container>;
}

/** `containerd.services.containers.v1.Containers/Get` on the gateway. */
export function gatewayContainers(channel: H2Channel): ContainerLookup {
  const containers = clientOf(Containers, channel);
  return {
    async get(namespace, id, signal) {
      const res = await containers.get({ id }, { metadata: Metadata({ [NAMESPACE_KEY]: namespace }), ...(signal ? { signal } : {}) });
      if (res.container === undefined) throw new NotFoundError(`container "${id}" in namespace "${namespace}"`);
      return res.container;
    },
  };
}
