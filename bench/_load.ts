import { clientOf, dialUnix } from '@flotilla/rpc/client';
import { Version } from '@flotilla/proto/containerd/services/version/v1/version_pb';
import { Namespaces } from '@flotilla/proto/containerd/services/namespaces/v1/namespace_pb';
const ch = dialUnix(process.argv[2]!);
const v = clientOf(Version, ch);
const n = clientOf(Namespaces, ch);
for (let i = 0; i < 6000; i++) await v.version({});
for (let i = 0; i < 4000; i++) await n.list({}, { metadata: undefined as never });
ch.close();
