import { create } from '@bufbuild/protobuf';
import { Version, VersionResponseSchema } from '@flotilla/proto/containerd/services/version/v1/version_pb';
import { definitionOf, type RpcServer } from '@flotilla/rpc';
import { API_VERSION, type GrpcService } from '@flotilla/plugin';

export function versionService(revision: string): GrpcService {
  const response = create(VersionResponseSchema, { version: API_VERSION, revision });
  return {
    name: Version.typeName,
    register: (server: RpcServer) => server.add(definitionOf(Version), { version: async () => response }),
  };
}
